"""Settings: TOML file, environment overrides, and errors that name the key."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from pydantic import BaseModel

from linetrace.central.config import CentralSettings, load_settings
from linetrace.errors import ConfigError


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith("LINETRACE_CENTRAL_"):
            monkeypatch.delenv(name)


def toml(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "central.toml"
    path.write_text(text)
    return path


def test_defaults_bind_localhost_and_use_sqlite_in_the_state_dir() -> None:
    settings = load_settings()
    assert settings.api.host == "127.0.0.1"
    assert settings.database_url == "sqlite:///state/central/central.db"
    assert settings.ingest.batch_size <= settings.ingest.max_in_flight


def test_the_file_is_read_and_the_environment_overrides_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = toml(
        tmp_path,
        'state_dir = "/srv/central"\n[mqtt]\nhost = "broker.local"\nport = 8883\n'
        "[ingest]\nbatch_size = 50\n",
    )
    monkeypatch.setenv("LINETRACE_CENTRAL_MQTT__PORT", "1884")
    monkeypatch.setenv("LINETRACE_CENTRAL_MQTT__PASSWORD", "s3cret")
    monkeypatch.setenv("LINETRACE_CENTRAL_DATABASE__URL", "postgresql+psycopg://c@db/linetrace")
    settings = load_settings(path)
    assert (settings.mqtt.host, settings.mqtt.port) == ("broker.local", 1884)
    assert settings.mqtt.password is not None
    assert settings.mqtt.password.get_secret_value() == "s3cret"
    assert "s3cret" not in repr(settings)
    assert settings.ingest.batch_size == 50
    assert settings.database_url == "postgresql+psycopg://c@db/linetrace"
    assert settings.state_dir == Path("/srv/central")


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("[mqtt]\nport = 70000\n", "mqtt.port: Input should be less than or equal to 65535"),
        ("[mqtt]\nprot = 1883\n", "mqtt.prot: Extra inputs are not permitted"),
        ("[ingest]\nflush_interval_ms = 0\n", "ingest.flush_interval_ms"),
        ("[ingest]\nbatch_size = 500\nmax_in_flight = 100\n", "exceeds max_in_flight 100"),
        ('[database]\nurl = "mysql://x"\n', "database.url: Value error, only sqlite"),
        ('[database]\nurl = "::nonsense"\n', "database.url: Value error, not a database URL"),
        (
            '[mqtt]\ntls = true\ntls_ca_file = "/no/such/ca.pem"\n',
            "mqtt.tls_ca_file: Value error, CA file /no/such/ca.pem does not exist",
        ),
        ("colour = 1\n", "colour: Extra inputs are not permitted"),
        ("[ingest]\ndead_letter_alarm_threshold = 0\n", "ingest.dead_letter_alarm_threshold"),
        ("[ingest]\ndead_letter_alarm_window_s = 5\n", "ingest.dead_letter_alarm_window_s"),
        ("[ingest]\nseq_reuse_alarm_clear_after_s = 1\n", "ingest.seq_reuse_alarm_clear_after_s"),
    ],
)
def test_a_bad_key_is_named(tmp_path: Path, text: str, says: str) -> None:
    with pytest.raises(
        ConfigError, match=r"\(with LINETRACE_CENTRAL_\* overrides\) is invalid"
    ) as refused:
        load_settings(toml(tmp_path, text))
    assert says in str(refused.value)


def test_alarm_thresholds_default_sensibly_and_follow_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    ingest = load_settings().ingest
    assert (ingest.dead_letter_alarm_threshold, ingest.dead_letter_alarm_window_s) == (20, 300)
    assert ingest.seq_reuse_alarm_clear_after_s == 900
    monkeypatch.setenv("LINETRACE_CENTRAL_INGEST__DEAD_LETTER_ALARM_THRESHOLD", "100")
    monkeypatch.setenv("LINETRACE_CENTRAL_INGEST__DEAD_LETTER_ALARM_WINDOW_S", "60")
    monkeypatch.setenv("LINETRACE_CENTRAL_INGEST__SEQ_REUSE_ALARM_CLEAR_AFTER_S", "3600")
    ingest = load_settings().ingest
    assert (ingest.dead_letter_alarm_threshold, ingest.dead_letter_alarm_window_s) == (100, 60)
    assert ingest.seq_reuse_alarm_clear_after_s == 3600


def test_a_bad_environment_value_names_its_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_CENTRAL_API__PORT", "http")
    with pytest.raises(ConfigError) as refused:
        load_settings()
    assert "api.port" in str(refused.value)
    assert "LINETRACE_CENTRAL_API__PORT" in str(refused.value)


def test_an_unknown_environment_variable_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_CENTRAL_MQTT__HOSTNAME", "broker")
    with pytest.raises(ConfigError, match="LINETRACE_CENTRAL_MQTT__HOSTNAME"):
        load_settings()


def test_unreadable_or_broken_files_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"missing\.toml is invalid:\n  cannot read the file"):
        load_settings(tmp_path / "missing.toml")
    with pytest.raises(ConfigError, match=r"central\.toml is invalid:\n  not valid TOML"):
        load_settings(toml(tmp_path, "[mqtt\n"))


def test_every_field_is_described() -> None:
    def undescribed(model: type[BaseModel]) -> list[str]:
        missing = []
        for name, field in model.model_fields.items():
            if not field.description:
                missing.append(f"{model.__name__}.{name}")
            annotation = field.annotation
            if isinstance(annotation, type) and issubclass(annotation, BaseModel):
                missing += undescribed(annotation)
        return missing

    assert undescribed(CentralSettings) == []
