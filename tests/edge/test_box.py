"""Two cameras on one box: one process, one decode pool, two stations on a real Mosquitto."""

from __future__ import annotations

import os
import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.box import run_box
from linetrace.edge.box_config import load_stations
from linetrace.edge.config import ENV_PREFIX
from linetrace.edge.line.gs1 import to_hri
from linetrace.synth.conveyor import ConveyorSpec, Truth, write_conveyor
from tests.edge.delivery.acking_sink import AckingSink

STATIONS = (StationId("hcm1", "L1", "pack-1"), StationId("hcm1", "L1", "pack-2"))


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def conveyors(tmp_path_factory: pytest.TempPathFactory) -> list[tuple[Path, Truth]]:
    """Two different small clean conveyor videos, one per camera."""
    folder = tmp_path_factory.mktemp("conveyors")
    made = []
    for seed in (1, 2):
        spec = ConveyorSpec(
            items=12,
            fps=30.0,
            width=640,
            height=360,
            items_per_second=2.0,
            seed=seed,
            degradation="none",
        )
        video = folder / f"camera-{seed}.mp4"
        made.append((video, write_conveyor(video, spec)))
    return made


@pytest.fixture
def sink(mqtt_broker: LocalBroker) -> Iterator[AckingSink]:
    with AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink:
        yield sink


def box_file(
    broker: LocalBroker, videos: list[Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Path:
    cameras: list[dict[str, Any]] = []
    for index, (station, video) in enumerate(zip(STATIONS, videos, strict=True)):
        credentials = broker.station(str(station))
        monkeypatch.setenv(f"{ENV_PREFIX}CAMERAS__{index}__MQTT__PASSWORD", credentials.password)
        cameras.append(
            {
                "station": station.station,
                "source": {"spec": str(video)},
                "outbox": {"path": str(tmp_path / f"{station.station}.db")},
            }
        )
    document = {
        "station": {"site": "hcm1", "line": "L1", "utc_offset": "+07:00"},
        "scanner": {"workers": 1},
        "mqtt": {"host": broker.host, "port": broker.port, "keepalive_s": 5},
        "cameras": cameras,
    }
    path = tmp_path / "box.toml"
    path.write_bytes(tomli_w.dumps(document).encode())
    return path


def test_every_item_of_each_camera_arrives_once_under_its_own_station(
    mqtt_broker: LocalBroker,
    sink: AckingSink,
    conveyors: list[tuple[Path, Truth]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    path = box_file(mqtt_broker, [video for video, _ in conveyors], tmp_path, monkeypatch)
    stations, scanner = load_stations(path)
    assert scanner is not None
    runs = run_box(stations, scanner, threading.Event())

    wanted = {
        station: Counter(item.text for item in truth.items if item.readable)
        for station, (_, truth) in zip(STATIONS, conveyors, strict=True)
    }
    total = sum(sum(texts.values()) for texts in wanted.values())
    sink.wait_for_events(total)
    events = sink.quiet_for(0.3)  # a duplicate would arrive in this time
    assert len(events) == len(sink.event_ids()) == total
    for station, run in zip(STATIONS, runs, strict=True):
        assert run.station == station
        assert run.error is None
        assert run.summary is not None
        assert (run.summary.lost, run.summary.left_in_outbox) == (0, 0)
        own = [event for event in events if event.station_id == station]
        assert Counter(to_hri(e.symbology_id, e.text or "") for e in own) == wanted[station]
        assert sorted(event.seq for event in own) == list(range(1, len(own) + 1))
        assert run.summary.stored == len(own)
    assert not any(run.failed for run in runs)


def test_a_camera_that_cannot_open_stops_alone(
    mqtt_broker: LocalBroker,
    sink: AckingSink,
    conveyors: list[tuple[Path, Truth]],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    video, truth = conveyors[0]
    path = box_file(mqtt_broker, [video, tmp_path / "missing.mp4"], tmp_path, monkeypatch)
    stations, scanner = load_stations(path)
    assert scanner is not None
    good, bad = run_box(stations, scanner, threading.Event(), flush_grace_s=2.0)
    assert bad.error is not None
    assert bad.failed
    assert good.error is None
    assert good.summary is not None
    readable = sum(item.readable for item in truth.items)
    assert good.summary.stored == readable
    events = sink.wait_for_events(readable)
    assert {event.station_id for event in events} == {STATIONS[0]}
