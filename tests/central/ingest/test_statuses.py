"""The stations' status at central, against a real Mosquitto: the retained status read on
start, alarms raised and cleared from it (the last will included), bad statuses and
strangers' dead-lettered without stopping the ingest, and two replicas counting a loss once.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from typing import Any, Literal

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.derive.alarms import Alarm, list_alarms
from linetrace.central.derive.station_status import (
    EVENTS_LOST,
    STATION_DEGRADED,
    STATION_OFFLINE,
)
from linetrace.central.ingest.service import Ingest
from linetrace.central.store import dead_letters, events, open_engine
from tests.central.helpers import (
    HCM,
    STATION,
    Publisher,
    central_settings,
    events_topic,
    make_event,
    register,
)
from tests.conditions import wait_until

STRANGER = "hcm1/L9/nobody"
T0 = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)


def status_topic(station: str = STATION) -> str:
    return topic(StationId.parse(station), Channel.STATUS)


def status(
    state: Literal["online", "degraded", "offline"], seconds: float, **figures: float
) -> bytes:
    at = T0 + timedelta(seconds=seconds)
    return StationStatus(state=state, at=at, metrics=figures).to_payload()


@contextmanager
def central(broker: LocalBroker, database_url: str, name: str) -> Iterator[Ingest]:
    """A central replica; the broker takes each account's name as its client id."""
    credentials = broker.service(name)
    settings = central_settings(
        database_url,
        host=broker.host,
        port=broker.port,
        username=credentials.username,
        password=credentials.password,
        client_id=name,
    )
    engine = open_engine(database_url)
    ingest = Ingest(settings, engine)
    ingest.start()
    try:
        wait_until(lambda: ingest.subscribed)
        yield ingest
    finally:
        ingest.stop()
        engine.dispose()


@contextmanager
def publisher(broker: LocalBroker, credentials: Credentials) -> Iterator[Publisher]:
    with Publisher(broker.host, broker.port, credentials.username, credentials.password) as pub:
        yield pub


def open_alarms(database_url: str, kind: str) -> dict[str, Alarm]:
    """The open alarms of ``kind`` by key."""
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return {alarm.key: alarm for alarm in list_alarms(connection, kind=kind)}
    finally:
        engine.dispose()


def rows(database_url: str, table: sa.Table) -> list[Any]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return list(connection.execute(sa.select(table)).all())
    finally:
        engine.dispose()


def drop_without_goodbye(broker: LocalBroker, credentials: Credentials, will: bytes) -> None:
    """Connect with a last will, then close the socket: the broker publishes the will."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"edge-{secrets.token_hex(4)}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(credentials.username, credentials.password)
    client.will_set(status_topic(), will, qos=1, retain=True)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    wait_until(client.is_connected)
    client.loop_stop()
    sock = client.socket()
    assert sock is not None
    sock.close()


def test_station_status_becomes_alarms_and_bad_statuses_dead_letters(
    mqtt_broker: LocalBroker, database_url: str
) -> None:
    register(database_url, STATION)
    station = mqtt_broker.station(STATION)
    stranger = mqtt_broker.station(STRANGER)
    with publisher(mqtt_broker, station) as pub:
        # Retained before central runs: a plain subscription reads it on start.
        pub.publish(status_topic(), status("degraded", 0, camera_alarm=1.0), retain=True)
    with central(mqtt_broker, database_url, "central"):
        wait_until(lambda: "camera" in open_alarms(database_url, STATION_DEGRADED))
        with publisher(mqtt_broker, station) as pub:
            lost = status("degraded", 5, outbox_alarm=1.0, lost=3.0)
            pub.publish(status_topic(), lost, retain=True)
            wait_until(lambda: "outbox" in open_alarms(database_url, EVENTS_LOST))
            assert set(open_alarms(database_url, STATION_DEGRADED)) == {"outbox"}
            (alarm,) = open_alarms(database_url, EVENTS_LOST).values()
            assert (alarm.station, alarm.severity, alarm.details and alarm.details["lost"]) == (
                STATION,
                "critical",
                3,
            )
            pub.publish(status_topic(), b'{"state": "sleepy"}')
            pub.publish(events_topic(), make_event(1).to_payload())  # the ingest goes on
        with publisher(mqtt_broker, stranger) as other:
            other.publish(status_topic(STRANGER), status("online", 0))
        wait_until(lambda: len(rows(database_url, events)) == 1)
        wait_until(lambda: len(rows(database_url, dead_letters)) == 2)
        reasons = {row.topic: row.reason for row in rows(database_url, dead_letters)}
        assert reasons[status_topic()].startswith("invalid status: state")
        assert reasons[status_topic(STRANGER)].startswith(f"unknown station {STRANGER}")

        # One agent per station account: the will's connection is the station's only one.
        drop_without_goodbye(mqtt_broker, station, status("offline", 0))
        wait_until(lambda: "status" in open_alarms(database_url, STATION_OFFLINE))
        with publisher(mqtt_broker, station) as pub:
            pub.publish(status_topic(), status("online", 60, lost=3.0), retain=True)
        wait_until(lambda: not open_alarms(database_url, STATION_OFFLINE))
        assert open_alarms(database_url, STATION_DEGRADED) == {}
        assert set(open_alarms(database_url, EVENTS_LOST)) == {"outbox"}  # until acknowledged


@pytest.mark.postgres
def test_every_replica_reads_every_status_and_a_loss_is_counted_once(
    mqtt_broker: LocalBroker, postgres_url: str
) -> None:
    register(postgres_url, STATION)
    station = mqtt_broker.station(STATION)
    with (
        central(mqtt_broker, postgres_url, "central-a") as first,
        central(mqtt_broker, postgres_url, "central-b") as second,
        publisher(mqtt_broker, station) as pub,
    ):
        pub.publish(status_topic(), status("online", 0, lost=0.0), retain=True)
        for seconds, lost in ((5, 2.0), (10, 4.0)):
            pub.publish(status_topic(), status("degraded", seconds, outbox_alarm=1.0, lost=lost))
        wait_until(lambda: first.stats().received == 3 and second.stats().received == 3)
    # Stopping commits what each replica received.
    (alarm,) = open_alarms(postgres_url, EVENTS_LOST).values()
    assert alarm.details
    assert alarm.details["lost"] == 4
    assert set(open_alarms(postgres_url, STATION_DEGRADED)) == {"outbox"}
