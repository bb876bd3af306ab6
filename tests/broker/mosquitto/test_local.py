"""LocalBroker: the throwaway Mosquitto of the tests, the benchmarks and the demo."""

from __future__ import annotations

import socket
from collections.abc import Callable
from pathlib import Path

import pytest

from linetrace.broker.mosquitto import MosquittoNotFoundError, find_mosquitto
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from tests.broker.mqtt_probe import SUCCESS, Probe


@pytest.fixture
def mosquitto(require: Callable[[bool, str], None]) -> None:
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        require(False, str(exc))


def test_free_port_can_be_bound() -> None:
    port = free_port()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


@pytest.mark.usefixtures("mosquitto")
def test_create_then_with_runs_the_broker_until_the_block_ends(tmp_path: Path) -> None:
    broker = LocalBroker.create(tmp_path / "broker", log_path=tmp_path / "logs" / "broker.log")
    credentials = broker.service("central")  # not running yet: read when it starts
    before = (broker.running, broker.pid)
    with broker:
        assert (broker.running, broker.pid is not None) == (True, True)
        with Probe(broker.host, broker.port, credentials) as probe:
            assert probe.connect() == SUCCESS
        assert "running" in broker.tail()
    assert before == (False, None)
    assert not broker.running
    assert broker.stop() is None  # stopping twice is harmless


@pytest.mark.usefixtures("mosquitto")
def test_a_restart_keeps_the_port_and_appends_to_the_log(tmp_path: Path) -> None:
    port = free_port()
    broker = LocalBroker.create(tmp_path, port=port)
    with broker:
        pass
    assert broker.port == port
    with broker:
        credentials = broker.station("hcm/line1/st1")  # running: active on return
        with Probe(broker.host, port, credentials) as probe:
            assert probe.connect() == SUCCESS
    assert broker.log().count(" running") == 2
