"""``/api/stream`` over real HTTP: a stalled client is dropped from (counted in /metrics and
told so) while a reading client gets every event, promptly."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx
import pytest

from linetrace.central.api.app import create_app
from linetrace.central.api.live_hub import LiveHub
from linetrace.central.auth.roles import Role
from tests.central.auth_helpers import login_headers
from tests.central.dashboard.seeding import insert
from tests.central.helpers import central_settings, make_event
from tests.central.serving import serving
from tests.conditions import wait_until


@pytest.fixture
def served(sqlite_url: str) -> Iterator[tuple[str, Any]]:
    app = create_app(central_settings(sqlite_url))
    with serving(app) as url:
        app.state.live_hub = LiveHub(app.state.engine, queue_size=64)
        yield url, app


def _enough(lines: list[str], wanted: int) -> bool:
    return sum('"seq":' in line for line in lines) >= wanted


def test_a_stalled_client_is_dropped_from_and_a_reading_one_is_not(
    served: tuple[str, Any], sqlite_url: str
) -> None:
    base, app = served
    headers = login_headers(sqlite_url, Role.OPERATOR)
    port = int(base.rsplit(":", 1)[1])
    stalled = socket.socket()
    stalled.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
    stalled.connect(("127.0.0.1", port))
    stalled.sendall(
        (
            f"GET /api/stream HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
            f"Authorization: {headers['Authorization']}\r\n\r\n"
        ).encode()
    )
    seen: list[str] = []

    def read() -> None:
        with (
            httpx.Client(timeout=30) as client,
            client.stream("GET", base + "/api/stream", headers=headers) as response,
        ):
            seen.extend(response.iter_lines())

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    hub: LiveHub = app.state.live_hub
    wait_until(lambda: hub.clients == 2, message="both streams subscribed")
    seq = 0
    for _ in range(100):
        if hub.dropped:
            break
        now = datetime.now(UTC)
        batch = [make_event(seq + n, observed_at=now) for n in range(1, 51)]
        seq += 50
        insert(sqlite_url, batch, now)
        wanted = seq
        wait_until(partial(_enough, seen, wanted), timeout=20)
    assert hub.dropped > 0
    marker = make_event(seq + 1, observed_at=datetime.now(UTC))
    insert(sqlite_url, [marker])
    wait_until(lambda: any(str(marker.event_id) in line for line in seen), timeout=5)
    metrics = httpx.get(base + "/metrics").text
    dropped = [m for m in metrics.splitlines() if m.startswith("linetrace_central_live_dropped")]
    assert dropped
    assert float(dropped[0].split()[-1]) > 0
    stalled.close()
