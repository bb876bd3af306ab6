"""The edge config: one TOML file, environment overrides, errors that name the key."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from pydantic import BaseModel

from linetrace.broker.contract.topics import StationId
from linetrace.edge.config import ENV_PREFIX, EdgeConfig, StationRole, load_config
from linetrace.edge.line.settings import PackConfig
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.errors import ConfigError

STATION_FILE = """
[station]
site = "hcm1"
line = "L1"
station = "pack-1"
gln = "8938500000010"
role = "packing"
utc_offset = "+07:00"

[source]
spec = "conveyor.mp4"
realtime = true
loop = true

[pipeline]
window_s = 0.4

[mqtt]
host = "broker.plant.example"
port = 1884

[outbox]
path = "state/pack-1.db"
capacity = 1000
"""


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Overrides set on the machine running the tests must not leak into them."""
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "edge.toml"
    path.write_text(text)
    return path


def problems_of(path: Path | None) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems


def test_the_file_is_read_and_the_station_fills_the_broker_identity(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, STATION_FILE))
    assert config.station.id == StationId("hcm1", "L1", "pack-1")
    assert config.station.role is StationRole.PACKING
    assert config.station.tz.utcoffset(None) == timedelta(hours=7)
    assert config.source.spec == "conveyor.mp4"
    assert config.source.realtime
    assert config.source.loop
    assert config.pipeline == PipelineConfig(window_s=0.4)
    assert (config.mqtt.host, config.mqtt.port) == ("broker.plant.example", 1884)
    assert config.mqtt.username == "hcm1/L1/pack-1"
    assert config.mqtt.client_id == "linetrace-edge-hcm1.L1.pack-1"
    assert config.mqtt.password is None
    assert config.outbox.path == Path("state/pack-1.db")
    assert config.outbox.capacity == 1000


def test_environment_overrides_any_key_of_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINETRACE_EDGE_MQTT__PORT", "8883")
    monkeypatch.setenv("LINETRACE_EDGE_MQTT__PASSWORD", "s3cret")
    monkeypatch.setenv("LINETRACE_EDGE_PIPELINE__WINDOW_S", "0.8")
    monkeypatch.setenv("LINETRACE_EDGE_STATION__UTC_OFFSET", "-03:30")
    monkeypatch.setenv("linetrace_edge_outbox__capacity", "7")
    config = load_config(write(tmp_path, STATION_FILE))
    assert config.mqtt.port == 8883
    assert config.mqtt.host == "broker.plant.example"  # the rest of the section stays
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(config)
    assert config.pipeline.window_s == 0.8
    assert config.station.tz.utcoffset(None) == -timedelta(hours=3, minutes=30)
    assert config.outbox.capacity == 7


def test_the_environment_alone_is_a_whole_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for key, value in {
        "STATION__SITE": "dn2",
        "STATION__LINE": "L3",
        "STATION__STATION": "ship-1",
        "STATION__ROLE": "shipping",
        "SOURCE__SPEC": "0",
        "MQTT__USERNAME": "custom-user",
        "MQTT__CLIENT_ID": "edge-7",
    }.items():
        monkeypatch.setenv(ENV_PREFIX + key, value)
    config = load_config(None)
    assert config.station.id == StationId("dn2", "L3", "ship-1")
    assert config.station.role is StationRole.SHIPPING
    assert config.station.tz.utcoffset(None) == timedelta(0)
    assert (config.mqtt.username, config.mqtt.client_id) == ("custom-user", "edge-7")
    assert config.pipeline == PipelineConfig()


def test_a_bad_value_is_reported_by_its_key(tmp_path: Path) -> None:
    text = STATION_FILE.replace("port = 1884", 'port = "eighteen"')
    problems = problems_of(write(tmp_path, text))
    assert problems == [
        "mqtt.port: Input should be a valid integer, unable to parse string as an integer"
    ]


def test_a_bad_override_names_the_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_EDGE_MQTT__PORT", "70000")
    problems = problems_of(write(tmp_path, STATION_FILE))
    assert len(problems) == 1
    assert problems[0].startswith("mqtt.port: Input should be less than or equal to 65535")
    assert problems[0].endswith("(set by LINETRACE_EDGE_MQTT__PORT)")


def test_every_problem_is_listed_at_once(tmp_path: Path) -> None:
    text = (
        STATION_FILE.replace('site = "hcm1"', 'site = "hcm1/evil"')
        .replace('gln = "8938500000010"', 'gln = "8938500000011"')
        .replace('utc_offset = "+07:00"', 'utc_offset = "7"')
        .replace('role = "packing"', 'role = "painting"')
        .replace("capacity = 1000", "capacity = 0")
        .replace("window_s = 0.4", "window_s = 0.4\nwindow = 2")
    )
    problems = problems_of(write(tmp_path, text))
    keys = sorted(problem.split(":")[0] for problem in problems)
    assert keys == [
        "outbox.capacity",
        "pipeline.window",
        "station.gln",
        "station.role",
        "station.site",
        "station.utc_offset",
    ]
    by_key = {problem.split(":")[0]: problem for problem in problems}
    assert "'hcm1/evil' is not a valid id part" in by_key["station.site"]
    assert "check digit" in by_key["station.gln"]
    assert "Extra inputs are not permitted" in by_key["pipeline.window"]


def test_missing_sections_and_unknown_sections_are_named(tmp_path: Path) -> None:
    text = STATION_FILE.split("[source]")[0] + '\n[sauce]\nspec = "x"\n'
    assert sorted(problems_of(write(tmp_path, text))) == [
        "sauce: Extra inputs are not permitted",
        "source: Field required",
    ]


def test_tls_files_are_checked_at_start(tmp_path: Path) -> None:
    missing = STATION_FILE.replace(
        "port = 1884", 'port = 8883\ntls = true\ntls_ca_file = "nope.pem"'
    )
    [problem] = problems_of(write(tmp_path, missing))
    assert problem.startswith("mqtt.tls_ca_file: Value error, CA file nope.pem does not exist")

    ca = tmp_path / "ca.pem"
    ca.write_text("-----BEGIN CERTIFICATE-----\n")
    without_tls = STATION_FILE.replace("port = 1884", f'port = 8883\ntls_ca_file = "{ca}"')
    [problem] = problems_of(write(tmp_path, without_tls))
    assert problem.startswith("mqtt: Value error, tls_ca_file is set but tls is false")


def test_an_unreadable_or_broken_file_is_reported(tmp_path: Path) -> None:
    [problem] = problems_of(tmp_path / "absent.toml")
    assert problem.startswith("cannot read the file")
    [problem] = problems_of(write(tmp_path, "[station\nsite = 1"))
    assert problem.startswith("not valid TOML")


def _fields_without_description(model: type[BaseModel], prefix: str = "") -> list[str]:
    missing = []
    for name, field in model.model_fields.items():
        if not field.description:
            missing.append(prefix + name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            missing += _fields_without_description(annotation, f"{prefix}{name}.")
    return missing


def test_every_key_is_documented() -> None:
    assert _fields_without_description(EdgeConfig) == []


DELIVERY_SECTIONS = """
[outbox]
alarm_at = 0.9

[delivery]
resend_timeout_s = 45

[status]
interval_s = 2

[metrics]
port = 9108

[pack]
overlap_margin_s = 0.1
hold_s = 2.5
region_margin_px = 120
"""


def test_delivery_status_metrics_and_pack_sections_are_read(tmp_path: Path) -> None:
    text = STATION_FILE.split("[outbox]")[0]  # the sections below bring their own
    config = load_config(write(tmp_path, text + DELIVERY_SECTIONS))
    assert config.outbox.alarm_at == 0.9
    assert config.delivery.resend_timeout_s == 45.0
    assert config.status.interval_s == 2.0
    assert (config.metrics.port, config.metrics.bind) == (9108, "127.0.0.1")
    assert config.pack == PackConfig(overlap_margin_s=0.1, hold_s=2.5, region_margin_px=120.0)


def test_the_new_sections_have_safe_defaults(tmp_path: Path) -> None:
    config = load_config(write(tmp_path, STATION_FILE))
    assert config.metrics.port is None  # no listening port unless asked for
    assert config.delivery.resend_timeout_s == 30.0
    assert config.status.interval_s == 5.0
    assert config.outbox.alarm_at == 0.8
    assert config.pack.region_margin_px is None


def test_the_new_sections_take_environment_overrides_and_name_bad_keys(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINETRACE_EDGE_METRICS__PORT", "9200")
    monkeypatch.setenv("LINETRACE_EDGE_PACK__HOLD_S", "0.5")
    monkeypatch.setenv("LINETRACE_EDGE_DELIVERY__RESEND_TIMEOUT_S", "10")
    config = load_config(write(tmp_path, STATION_FILE))
    assert (config.metrics.port, config.pack.hold_s) == (9200, 0.5)
    assert config.delivery.resend_timeout_s == 10.0

    monkeypatch.setenv("LINETRACE_EDGE_STATUS__INTERVAL_S", "0.1")
    monkeypatch.setenv("LINETRACE_EDGE_OUTBOX__ALARM_AT", "1.5")
    problems = problems_of(write(tmp_path, STATION_FILE))
    assert sorted(problem.split(":")[0] for problem in problems) == [
        "outbox.alarm_at",
        "status.interval_s",
    ]
    assert all("(set by LINETRACE_EDGE_" in problem for problem in problems)
