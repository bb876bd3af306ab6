"""``linetrace demo`` as a newcomer runs it: the whole stack comes up, and every read and
pack the edge stores at central is relayed to the demo's EPCIS sandbox and accepted there.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from linetrace.ports import free_port
from linetrace.processes import linetrace_argv
from linetrace.synth.conveyor import Truth
from tests.conditions import wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

# Generous: generating the video, starting four processes and playing 20 items in real
# time take about half a minute here; CI machines are shared and noisy.
DEMO_TIMEOUT_S = 240.0
ITEMS = 20


def _json(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return None


def _accepted(api: str) -> int:
    report = _json(f"{api}/api/relay") or {"targets": []}
    return sum(entry["counts"].get("accepted", 0) for entry in report["targets"])


def _stored_relayable(api: str) -> int:
    """Reads and packs: the relay sends those, never a no-read."""
    page = _json(f"{api}/api/events?limit=500") or {"events": []}
    return sum(1 for event in page["events"] if event["kind"] in ("read", "pack"))


def test_the_demo_relays_every_read_and_pack_to_its_epcis_sandbox(tmp_path: Path) -> None:
    api_port, sandbox_port = free_port(), free_port()
    api, sandbox = f"http://127.0.0.1:{api_port}", f"http://127.0.0.1:{sandbox_port}"
    argv = linetrace_argv(
        "demo",
        "--items",
        str(ITEMS),
        "--items-per-second",
        "4",
        "--api-port",
        str(api_port),
        "--sandbox-port",
        str(sandbox_port),
    )
    log = tmp_path / "demo.log"
    with log.open("wb") as output:
        demo = subprocess.Popen(
            argv, cwd=tmp_path, stdout=output, stderr=subprocess.STDOUT, env=os.environ.copy()
        )
    try:
        # The edge ends at the end of the video only once central confirmed every event.
        wait_until(
            lambda: "the edge agent has finished the video" in log.read_text(errors="replace"),
            DEMO_TIMEOUT_S,
            "the demo never finished its video",
        )
        truth = Truth.load(next((tmp_path / "linetrace-demo").glob("*.truth.json")))
        relayable = _stored_relayable(api)
        assert relayable >= sum(item.readable for item in truth.items) - 2
        wait_until(
            lambda: _accepted(api) == relayable,
            DEMO_TIMEOUT_S,
            f"not every read and pack of {relayable} was relayed",
        )
        captured = _json(f"{sandbox}/events")
        assert captured is not None
        event_ids = [event["eventID"] for event in captured["epcisBody"]["queryResults"]
                     ["resultsBody"]["eventList"]]  # fmt: skip
        assert len(event_ids) == relayable
        assert len(set(event_ids)) == relayable
        assert f"EPCIS      {sandbox}/events" in log.read_text()
    finally:
        demo.send_signal(signal.SIGINT)
        code = demo.wait(timeout=60)
    assert code == 0, log.read_text(errors="replace")
