"""``linetrace demo`` as a newcomer runs it: a small plant comes up and keeps producing.

Two lines of two stations each send events, serials stay new when one video follows
another, a packing station makes pack events, a worn label makes a no-read, each line has
an open batch, the relay delivers to the demo's EPCIS sandbox, and Ctrl-C stops it all.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from linetrace.ports import free_port
from linetrace.processes import linetrace_argv
from tests.central.auth_helpers import login_headers
from tests.conditions import wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

# Generous: setting up, starting seven processes and filming in real time take about
# twenty seconds here; CI machines are shared and noisy.
DEMO_TIMEOUT_S = float(os.environ.get("LINETRACE_DEMO_TEST_TIMEOUT_S", "240"))
# Short videos, so that a video boundary (and new serials after it) comes within seconds.
ITEMS_PER_VIDEO = 6
STATIONS = (
    "demo-site/line-1/label-1",
    "demo-site/line-1/pack-1",
    "demo-site/line-2/label-1",
    "demo-site/line-2/pack-1",
)


class Demo:
    """The running demo's HTTP endpoints, read with an admin token once central is up."""

    def __init__(self, state: Path, api: str, sandbox: str) -> None:
        self.state, self.api, self.sandbox = state, api, sandbox
        self._headers: dict[str, str] | None = None

    def get(self, path: str, **query: object) -> Any:
        if self._headers is None:
            self._headers = login_headers(f"sqlite:///{self.state / 'central' / 'central.db'}")
        url = self.api + path + ("?" + urllib.parse.urlencode(query) if query else "")
        request = urllib.request.Request(url, headers=self._headers)
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                return json.load(response)
        except (urllib.error.URLError, OSError, ValueError):
            return None

    def events(self, **query: object) -> list[dict[str, Any]]:
        page = self.get("/api/events", limit=500, **query)
        return [] if page is None else list(page["events"])

    def up(self) -> bool:
        try:
            with urllib.request.urlopen(self.api + "/healthz", timeout=5) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError):
            return False


def _serial_counts(events: list[dict[str, Any]]) -> list[int]:
    """The running count in each serial: the demo's serials are station digit + count."""
    serials = [(event.get("gs1") or {}).get("21") for event in events]
    return [int(serial[1:]) for serial in serials if serial]


def _videos(events: list[dict[str, Any]]) -> set[int]:
    return {count // ITEMS_PER_VIDEO for count in _serial_counts(events)}


def _captured(sandbox: str) -> list[dict[str, Any]]:
    try:
        with urllib.request.urlopen(f"{sandbox}/events", timeout=5) as response:
            body = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return []
    return list(body["epcisBody"]["queryResults"]["resultsBody"]["eventList"])


@pytest.fixture
def demo(tmp_path: Path) -> Any:
    api_port, sandbox_port = free_port(), free_port()
    argv = linetrace_argv(
        "demo",
        "--items-per-video", str(ITEMS_PER_VIDEO),
        "--items-per-second", "2",
        "--api-port", str(api_port),
        "--sandbox-port", str(sandbox_port),
    )  # fmt: skip
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        process = subprocess.Popen(
            argv, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
    running = Demo(
        tmp_path / "linetrace-demo",
        f"http://127.0.0.1:{api_port}",
        f"http://127.0.0.1:{sandbox_port}",
    )
    try:
        yield running, process, log
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


def test_the_demo_runs_a_plant_until_stopped(demo: tuple[Demo, Any, Path]) -> None:
    plant, process, log = demo
    try:
        wait_until(
            lambda: (
                "linetrace demo is running" in log.read_text(errors="replace")
                or process.poll() is not None
            ),
            DEMO_TIMEOUT_S,
            "the demo never came up",
        )
    except AssertionError:
        raise AssertionError(log.read_text(errors="replace")[-3000:]) from None
    text = log.read_text(errors="replace")
    assert process.poll() is None, text[-3000:]
    assert plant.up()
    assert f"dashboard  {plant.api}/" in text
    assert "login      " in text
    assert f"EPCIS      {plant.sandbox}/events" in text

    for station in STATIONS:
        wait_until(partial(plant.events, station=station, kind="read"), DEMO_TIMEOUT_S, station)
    wait_until(lambda: plant.events(kind="pack"), DEMO_TIMEOUT_S, "no pack event")
    wait_until(lambda: plant.events(kind="noread"), DEMO_TIMEOUT_S, "no no-read (worn label)")

    # Serials carry on across videos: the reads of a station span two videos or more
    # (each video takes the next ITEMS_PER_VIDEO numbers), and no serial comes back.
    station = STATIONS[0]
    wait_until(
        lambda: len(_videos(plant.events(station=station, kind="read"))) >= 2,
        DEMO_TIMEOUT_S,
        "no reads from a second video",
    )
    counts = _serial_counts(plant.events(station=station, kind="read"))
    assert len(counts) == len(set(counts)), f"a serial came back in a later video: {counts}"

    batches = plant.get("/api/batches", state="open") or []
    assert {batch["line"] for batch in batches} >= {"demo-site/line-1", "demo-site/line-2"}

    wait_until(lambda: _captured(plant.sandbox), DEMO_TIMEOUT_S, "the relay delivered nothing")
    event_ids = [event["eventID"] for event in _captured(plant.sandbox)]
    assert len(event_ids) == len(set(event_ids))

    process.send_signal(signal.SIGINT)
    code = process.wait(timeout=90)
    text = log.read_text(errors="replace")
    assert code == 0, text
    assert "linetrace demo: stopped" in text
    assert not plant.up()
