"""Running Mosquitto: finding the program, its pid file, reloading it, exec-ing into it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from linetrace.broker import mosquitto
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import (
    BrokerError,
    MosquittoNotFoundError,
    add_service,
    add_station,
    broker_command,
    find_mosquitto,
    init_broker,
    reload_running,
    running_pid,
)
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from tests.broker.mqtt_probe import ACCEPTED, SUCCESS, Probe

STATION = StationId("hcm", "line1", "st1")


def test_missing_mosquitto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(mosquitto.process, "SBIN_DIRS", ())
    with pytest.raises(MosquittoNotFoundError, match="apt-get install -y mosquitto"):
        find_mosquitto()


def test_broker_command_needs_an_initialised_directory(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="broker init"):
        broker_command(tmp_path)


def test_a_stale_pid_file_is_not_signalled(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    assert running_pid(tmp_path) is None
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not this broker
    assert running_pid(tmp_path) is None
    finished = subprocess.Popen(["true"])
    finished.wait()
    broker.pid_file.write_text(str(finished.pid))  # gone: Mosquitto leaves its pid file
    assert running_pid(tmp_path) is None
    broker.pid_file.write_text("not a pid")
    assert running_pid(tmp_path) is None
    assert reload_running(tmp_path) is False


def test_running_broker_is_found_and_reloaded_through_its_pid_file(
    mqtt_broker: LocalBroker,
) -> None:
    assert running_pid(mqtt_broker.directory) == mqtt_broker.pid
    credentials = add_station(mqtt_broker.directory, STATION)
    assert reload_running(mqtt_broker.directory)
    deadline = time.monotonic() + 5
    while True:
        with Probe(mqtt_broker.host, mqtt_broker.port, credentials) as station:
            if station.connect() == SUCCESS:
                break
        assert time.monotonic() < deadline, "the reloaded broker never accepted the station"
        time.sleep(0.05)


def test_run_broker_becomes_mosquitto(tmp_path: Path, require: Callable[[bool, str], None]) -> None:
    """Exec keeps the pid, so systemd's MAINPID and the pid file name the broker itself."""
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        require(False, str(exc))
    port = free_port()
    init_broker(tmp_path, port=port)
    credentials = add_service(tmp_path, "central")
    script = "import sys; from pathlib import Path; from linetrace.broker.mosquitto import "
    script += f"run_broker; sys.exit(run_broker(Path({str(tmp_path)!r})))"
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=log)
    log.close()
    try:
        deadline = time.monotonic() + 10
        while running_pid(tmp_path) is None:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the broker never wrote its pid file"
            time.sleep(0.02)
        assert running_pid(tmp_path) == process.pid
        with Probe("127.0.0.1", port, credentials) as central:
            assert central.connect() == SUCCESS
            assert central.publish(topic(STATION, Channel.BATCH), b"b") in ACCEPTED
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0
