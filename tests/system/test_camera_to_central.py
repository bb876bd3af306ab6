"""The whole loop with real processes: Mosquitto, ``central run`` and ``edge run``.

A 100-item synthetic conveyor video plays into an edge agent at a labelling station;
every readable item must be stored at central exactly once as a read, every occluded
label as one no-read, and nothing else may be.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all, wait_for_port
from linetrace.synth.conveyor import ConveyorSpec, Truth, write_conveyor

pytestmark = [pytest.mark.system, pytest.mark.slow]

STATION = "hcm1/line-2/pack-1"
# Generous: the edge decodes ~100 frames/s here, but CI machines are shared and noisy.
DELIVERY_TIMEOUT_S = 240.0


@pytest.fixture(scope="module")
def conveyor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    video = tmp_path_factory.mktemp("video") / "conveyor.mp4"
    spec = ConveyorSpec(
        items=100,
        fps=30.0,
        width=960,
        height=540,
        items_per_second=3.0,
        seed=2611,
        degradation="low",
    )
    return video, write_conveyor(video, spec)


def _events(api: str, token: str) -> list[dict[str, Any]]:
    """Every stored event, following the API's cursor."""
    events: list[dict[str, Any]] = []
    url = f"{api}/api/events?limit=500"
    while True:
        request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
        with urllib.request.urlopen(request, timeout=5) as response:
            page = json.load(response)
        events.extend(page["events"])
        if not page.get("next_cursor"):
            return events
        url = f"{api}/api/events?limit=500&cursor={page['next_cursor']}"


def test_every_readable_item_is_stored_exactly_once(
    mqtt_broker: LocalBroker, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, truth = conveyor
    station_creds = mqtt_broker.station(STATION)
    central_creds = mqtt_broker.service("central")
    api_port = free_port()
    site, line, station = STATION.split("/")
    central_toml = tmp_path / "central.toml"
    central_toml.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(tmp_path / "central"),
                "mqtt": {
                    "host": mqtt_broker.host,
                    "port": mqtt_broker.port,
                    "username": central_creds.username,
                    "password": central_creds.password,
                },
                "api": {"host": "127.0.0.1", "port": api_port},
            }
        )
    )
    edge_toml = tmp_path / "edge.toml"
    edge_toml.write_text(
        tomli_w.dumps(
            {
                "station": {
                    "site": site,
                    "line": line,
                    "station": station,
                    "role": "labelling",
                    "utc_offset": "+07:00",
                },
                "source": {"spec": str(video), "realtime": False},
                "mqtt": {
                    "host": mqtt_broker.host,
                    "port": mqtt_broker.port,
                    "username": station_creds.username,
                    "password": station_creds.password,
                },
                "outbox": {"path": str(tmp_path / "edge" / "outbox.sqlite")},
            }
        )
    )
    register = ["central", "station", "add", STATION, "--config", str(central_toml)]
    subprocess.run(linetrace_argv(*register), check=True, stdout=subprocess.DEVNULL)
    create = ["central", "token", "create", "system-test", "--role", "auditor"]
    made = subprocess.run(
        linetrace_argv(*create, "--config", str(central_toml)),
        check=True,
        capture_output=True,
        text=True,
    )
    token = made.stdout.strip()
    central = Child(
        "central",
        linetrace_argv("central", "run", "--config", str(central_toml)),
        tmp_path / "central.log",
    )
    edge = Child(
        "edge", linetrace_argv("edge", "run", "--config", str(edge_toml)), tmp_path / "edge.log"
    )
    api = f"http://127.0.0.1:{api_port}"
    readable = [item for item in truth.items if item.readable]
    try:
        central.start()
        wait_for_port("127.0.0.1", api_port, 60, central)
        edge.start()
        assert edge.process is not None
        edge_code = edge.process.wait(timeout=DELIVERY_TIMEOUT_S)
        assert edge_code == 0, edge.tail(40)
        deadline = time.monotonic() + 30
        events = _events(api, token)
        while len(events) < len(truth.items) and time.monotonic() < deadline:
            time.sleep(0.5)
            events = _events(api, token)
        time.sleep(1.0)  # anything late and extra would show now
        events = _events(api, token)
        with urllib.request.urlopen(f"{api}/healthz", timeout=5) as response:
            health = json.load(response)
    finally:
        stop_all([edge, central])

    from linetrace.edge.line.gs1 import to_hri

    reads = [event for event in events if event["kind"] == "read"]
    noreads = [event for event in events if event["kind"] == "noread"]
    assert len(reads) + len(noreads) == len(events), "only reads and no-reads at labelling"
    expected_gs1 = {item.text: item.gs1 for item in readable}
    stored_hri = Counter(to_hri(event["symbology_id"], event["text"]) for event in reads)
    expected_hri = Counter(item.text for item in readable)
    assert stored_hri - expected_hri == Counter(), "stored but not readable in the video"
    assert expected_hri - stored_hri == Counter(), "readable in the video but not stored"
    for event in reads:
        assert event["gs1"] == expected_gs1[to_hri(event["symbology_id"], event["text"])]
    unreadable = [item for item in truth.items if not item.readable]
    assert unreadable, "the video should test unreadable labels"
    assert len(noreads) == len(unreadable), "one no-read per occluded label"
    assert all(event["observed_at"].endswith("+07:00") for event in events)
    assert sorted(event["seq"] for event in events) == list(range(1, len(events) + 1))
    assert len({event["event_id"] for event in events}) == len(events)
    assert health["ingest"]["dead_lettered"] == 0
