"""``linetrace edge check`` and ``edge drain`` on a box with several ``[[cameras]]``.

Each camera is a station of its own (its own login and outbox), so both verbs work camera
by camera: check prints every check under each station's name; drain delivers every
camera's outbox at once and exits 0 only when central has confirmed them all.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import cv2
import numpy as np
import pytest
import tomli_w

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.cli.check import run_checks
from linetrace.edge.config import ENV_PREFIX
from tests.edge.cli.test_drain import depth, linetrace, store
from tests.edge.delivery.acking_sink import AckingSink

CAMERAS = (StationId("hcm1", "L1", "pack-1"), StationId("hcm1", "L1", "pack-2"))


def write_box(
    broker: LocalBroker, tmp_path: Path, passwords: list[str]
) -> tuple[Path, dict[str, str]]:
    """A two-camera box (an image as each camera's source) and the environment holding
    each camera's password, by its position in the file."""
    image = tmp_path / "label.png"
    cv2.imwrite(str(image), np.full((120, 160), 200, np.uint8))
    document = {
        "station": {"site": "hcm1", "line": "L1", "utc_offset": "+07:00"},
        "mqtt": {"host": broker.host, "port": broker.port, "keepalive_s": 5},
        "cameras": [
            {
                "station": station.station,
                "source": {"spec": str(image)},
                "outbox": {"path": str(tmp_path / f"{station.station}.db")},
            }
            for station in CAMERAS
        ],
    }
    path = tmp_path / "box.toml"
    path.write_text(tomli_w.dumps(document))
    secrets = {f"{ENV_PREFIX}CAMERAS__{n}__MQTT__PASSWORD": pw for n, pw in enumerate(passwords)}
    return path, {**os.environ, **secrets}


def test_check_runs_every_check_for_each_camera(
    mqtt_broker: LocalBroker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = mqtt_broker.station(str(CAMERAS[0])).password
    mqtt_broker.station(str(CAMERAS[1]))
    config, env = write_box(mqtt_broker, tmp_path, [good, "not-it"])
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            monkeypatch.setenv(name, value)
    out = io.StringIO()
    assert run_checks(config, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].split()[:2] == ["config", "ok"]
    assert "2 cameras: hcm1/L1/pack-1, hcm1/L1/pack-2" in lines[0]
    assert lines[1] == "hcm1/L1/pack-1:"
    assert [line.split()[:2] for line in lines[2:7]] == [
        ["source", "ok"], ["outbox", "ok"], ["broker", "ok"], ["central", "ok"],
        ["metrics", "ok"],
    ]  # fmt: skip
    assert lines[7] == "hcm1/L1/pack-2:"
    assert [line.split()[:2] for line in lines[8:13]] == [
        ["source", "ok"], ["outbox", "ok"], ["broker", "FAILED"], ["central", "FAILED"],
        ["metrics", "ok"],
    ]  # fmt: skip
    assert "refused user 'hcm1/L1/pack-2'" in lines[10]


def test_drain_empties_every_cameras_outbox(
    mqtt_broker: LocalBroker, sink: AckingSink, tmp_path: Path
) -> None:
    passwords = [mqtt_broker.station(str(station)).password for station in CAMERAS]
    config, env = write_box(mqtt_broker, tmp_path, passwords)
    stored = store(tmp_path / "pack-1.db", 5, CAMERAS[0])
    stored += store(tmp_path / "pack-2.db", 3, CAMERAS[1])
    done = linetrace(env, "edge", "drain", "--config", str(config), "--timeout", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hcm1/L1/pack-1: sending 5 events" in done.stdout
    assert "hcm1/L1/pack-2: sending 3 events" in done.stdout
    assert "hcm1/L1/pack-1: drained: central confirmed every event (watermark 5)" in done.stdout
    assert "hcm1/L1/pack-2: drained: central confirmed every event (watermark 3)" in done.stdout
    assert sink.event_ids() >= set(stored)
    assert depth(tmp_path / "pack-1.db", CAMERAS[0]) == 0
    assert depth(tmp_path / "pack-2.db", CAMERAS[1]) == 0


def test_drain_without_central_names_each_camera_left(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    passwords = [mqtt_broker.station(str(station)).password for station in CAMERAS]
    config, env = write_box(mqtt_broker, tmp_path, passwords)
    store(tmp_path / "pack-1.db", 2, CAMERAS[0])  # pack-2's outbox stays empty
    done = linetrace(env, "edge", "drain", "--config", str(config), "--timeout", "1.5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "hcm1/L1/pack-1: timed out after 1.5 s: 2 events left" in done.stdout
    assert (
        f"hcm1/L1/pack-2: outbox {tmp_path / 'pack-2.db'} is empty: nothing to send" in done.stdout
    )
    assert depth(tmp_path / "pack-1.db", CAMERAS[0]) == 2
