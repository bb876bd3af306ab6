"""The example configurations in deploy/ must stay valid as the settings evolve."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from linetrace.central.config import load_settings
from linetrace.edge.config import load_config

DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


@pytest.fixture(autouse=True)
def _no_overrides(monkeypatch: pytest.MonkeyPatch) -> None:
    """The examples are read alone: no LINETRACE_* variable of the test run leaks in."""

    for name in list(os.environ):
        if name.startswith(("LINETRACE_EDGE_", "LINETRACE_CENTRAL_")):
            monkeypatch.delenv(name)


def test_edge_example_is_valid() -> None:
    config = load_config(DEPLOY / "config" / "edge.example.toml")
    assert str(config.station.id) == "hcm1/L1/pack-1"
    assert config.mqtt.username == "hcm1/L1/pack-1"  # defaults to the station's broker user
    assert config.metrics.port == 9108


def test_central_example_is_valid() -> None:
    settings = load_settings(DEPLOY / "config" / "central.example.toml")
    assert settings.database_url.startswith("sqlite:///")
    assert settings.api.host == "127.0.0.1"


def test_systemd_units_run_existing_verbs() -> None:
    units = {p.name: p.read_text() for p in (DEPLOY / "systemd").glob("*.service")}
    assert set(units) == {
        "linetrace-broker.service",
        "linetrace-central.service",
        "linetrace-edge@.service",
    }
    assert "linetrace broker run " in units["linetrace-broker.service"]
    assert "linetrace central run --config " in units["linetrace-central.service"]
    assert "linetrace edge run --config " in units["linetrace-edge@.service"]
