"""The benchmarks' broker: a :class:`LocalBroker` with the stations' and central's accounts."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker

__all__ = [
    "BROKER_STOP_S",
    "PAHO_LOG",
    "BenchBroker",
    "clear_acks",
    "mqtt_settings",
    "running_broker",
]

# The log of the benchmarks' paho clients, quiet but for the fatal: paho logs a race of
# its loop thread with disconnect() as an error, which would only clutter the figures.
PAHO_LOG = logging.getLogger("bench.paho")
PAHO_LOG.setLevel(logging.CRITICAL)
# SIGTERM makes Mosquitto save its persistence file, which after a run holds the queued
# and retained messages of every station: give it time.
BROKER_STOP_S = 10.0


@dataclass
class BenchBroker:
    """A running broker, the accounts of its stations and the one of central."""

    local: LocalBroker
    stations: list[Credentials]
    central: Credentials

    @property
    def host(self) -> str:
        return self.local.host

    @property
    def port(self) -> int:
        return self.local.port

    @property
    def pid(self) -> int:
        pid = self.local.pid
        if pid is None:
            raise RuntimeError(f"the broker is not running:\n{self.local.tail()}")
        return pid


def mqtt_settings(broker: BenchBroker, login: Credentials, client_id: str) -> MqttSettings:
    """The settings of a client of ``broker`` that logs in as ``login``."""
    return MqttSettings(
        host=broker.host,
        port=broker.port,
        username=login.username,
        password=SecretStr(login.password),
        client_id=client_id,
    )


@contextmanager
def running_broker(folder: Path, station_count: int) -> Iterator[BenchBroker]:
    """Mosquitto in ``folder`` with ``station_count`` stations (four to a line) and central."""
    local = LocalBroker.create(folder / "broker", log_path=folder / "mosquitto.log")
    stations = [
        local.station(StationId("bench", f"L{i // 4 + 1}", f"st-{i + 1}"))
        for i in range(station_count)
    ]
    central = local.service("central")
    local.start()
    try:
        yield BenchBroker(local, stations, central)
    finally:
        local.stop(BROKER_STOP_S)


def clear_acks(broker: BenchBroker) -> None:
    """Remove the retained ``ack`` of every station, so a new phase starts from nothing."""
    client = make_client(mqtt_settings(broker, broker.central, "bench-clear"), log=PAHO_LOG)
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    try:
        for credentials in broker.stations:
            station = StationId.parse(credentials.username)
            client.publish(topic(station, Channel.ACK), b"", qos=1, retain=True).wait_for_publish(
                10
            )
    finally:
        client.disconnect()
        client.loop_stop()
