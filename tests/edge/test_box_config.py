"""Several cameras in one config: one station each, shared sections, repeats refused."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linetrace.broker.contract.topics import StationId
from linetrace.edge.box_config import has_cameras, load_stations
from linetrace.edge.config import ENV_PREFIX, StationRole
from linetrace.errors import ConfigError

BOX_FILE = """
[station]
site = "hcm1"
line = "L1"
utc_offset = "+07:00"

[pipeline]
window_s = 0.4

[scanner]
workers = 1

[mqtt]
host = "broker.plant.example"
port = 1884

[[cameras]]
station = "pack-1"
source = { spec = "one.mp4", realtime = true }
outbox = { path = "state/pack-1.db" }
metrics = { port = 9108 }

[[cameras]]
station = "ship-1"
role = "shipping"
gln = "8938500000010"
source = { spec = "two.mp4" }
outbox = { path = "state/ship-1.db" }
mqtt = { username = "hcm1/L1/ship-1" }
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return path


def problems(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        load_stations(path)
    return str(caught.value)


def test_each_camera_is_a_station_of_its_own_with_the_shared_sections(tmp_path: Path) -> None:
    path = write(tmp_path, BOX_FILE)
    assert has_cameras(path)
    stations, scanner = load_stations(path)
    assert scanner is not None
    assert scanner.workers == 1
    first, second = stations
    assert first.station.id == StationId("hcm1", "L1", "pack-1")
    assert second.station.id == StationId("hcm1", "L1", "ship-1")
    assert (first.station.role, second.station.role) == (StationRole.PACKING, StationRole.SHIPPING)
    assert (first.station.gln, second.station.gln) == (None, "8938500000010")
    assert first.station.utc_offset == second.station.utc_offset == "+07:00"
    assert (first.source.spec, first.source.realtime) == ("one.mp4", True)
    assert (first.outbox.path, second.outbox.path) == (
        Path("state/pack-1.db"),
        Path("state/ship-1.db"),
    )
    assert (first.metrics.port, second.metrics.port) == (9108, None)
    assert first.pipeline.window_s == second.pipeline.window_s == 0.4
    assert {s.mqtt.host for s in stations} == {"broker.plant.example"}
    assert [s.mqtt.username for s in stations] == ["hcm1/L1/pack-1", "hcm1/L1/ship-1"]
    assert [s.mqtt.client_id for s in stations] == [
        "linetrace-edge-hcm1.L1.pack-1",
        "linetrace-edge-hcm1.L1.ship-1",
    ]


def test_a_camera_takes_its_password_from_the_environment_by_position(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}CAMERAS__1__MQTT__PASSWORD", "ship-secret")
    monkeypatch.setenv(f"{ENV_PREFIX}MQTT__PORT", "1999")
    first, second = load_stations(write(tmp_path, BOX_FILE))[0]
    assert (first.mqtt.password_text, second.mqtt.password_text) == (None, "ship-secret")
    assert first.mqtt.port == second.mqtt.port == 1999


def test_a_variable_for_a_camera_the_file_lacks_is_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(f"{ENV_PREFIX}CAMERAS__2__MQTT__PASSWORD", "x")
    monkeypatch.setenv(f"{ENV_PREFIX}CAMERAS__0__MQTT__PASWORD", "x")
    found = problems(write(tmp_path, BOX_FILE))
    assert f"{ENV_PREFIX}CAMERAS__2__MQTT__PASSWORD: the file has no cameras entry 2" in found
    assert f"{ENV_PREFIX}CAMERAS__0__MQTT__PASWORD: names no setting" in found


@pytest.mark.parametrize(
    ("change", "reason"),
    [
        (('station = "ship-1"', 'station = "pack-1"'), "own station id; repeated: hcm1/L1/pack-1"),
        (("state/ship-1.db", "state/pack-1.db"), "own outbox path; repeated:"),
        (
            (
                'source = { spec = "two.mp4" }',
                'source = { spec = "two.mp4" }\nmetrics = { port = 9108 }',
            ),
            "own metrics port; repeated: 9108",
        ),
        (('username = "hcm1/L1/ship-1"', 'username = "hcm1/L1/pack-1"'), "own broker user"),
        (("port = 1884", 'port = 1884\nusername = "hcm1/L1/pack-1"'), "are per camera"),
        (('station = "ship-1"', 'station = "ship/1"'), "cameras.1.station:"),
        (('outbox = { path = "state/ship-1.db" }', ""), "cameras.1.outbox: Field required"),
    ],
)
def test_a_box_that_would_mix_up_two_stations_is_refused(
    tmp_path: Path, change: tuple[str, str], reason: str
) -> None:
    old, new = change
    assert old in BOX_FILE
    assert reason in problems(write(tmp_path, BOX_FILE.replace(old, new, 1)))


def test_a_box_needs_a_camera_and_no_station_of_its_own(tmp_path: Path) -> None:
    empty = "cameras = []\n" + BOX_FILE.split("[[cameras]]")[0]
    assert "cameras: List should have at least 1 item" in problems(write(tmp_path, empty))
    lone = BOX_FILE + '\n[source]\nspec = "three.mp4"\n'
    assert "source: Extra inputs are not permitted" in problems(write(tmp_path, lone))


def test_a_file_without_cameras_is_the_one_station_config_unchanged(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        '[station]\nsite = "hcm1"\nline = "L1"\nstation = "pack-1"\n\n[source]\nspec = "a.mp4"\n',
    )
    assert not has_cameras(path)
    [station], scanner = load_stations(path)
    assert scanner is None
    assert station.station.id == StationId("hcm1", "L1", "pack-1")
    assert station.mqtt.client_id == "linetrace-edge-hcm1.L1.pack-1"


def test_the_example_box_in_the_deploy_config_is_valid(tmp_path: Path) -> None:
    example = Path(__file__).parents[2] / "deploy" / "config" / "edge.example.toml"
    box = example.read_text().split("# [station]", 1)[1]
    text = "[station]" + "\n".join(
        line.removeprefix("#").removeprefix(" ") for line in box.split("\n")
    )
    stations, _ = load_stations(write(tmp_path, text))
    assert [str(s.station.id) for s in stations] == ["hcm1/L1/pack-1", "hcm1/L1/ship-1"]
    assert [s.metrics.port for s in stations] == [9108, 9109]
