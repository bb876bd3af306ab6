"""The ingest against a real Mosquitto: retained ``ack`` watermarks, republished after a
reconnect, conflict alarms, and dead letters of an unknown station taken in by a replay."""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials, Role
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.conflicts import EVENT_CONFLICT
from linetrace.central.ingest.replay import replay_dead_letters
from linetrace.central.ingest.service import Ingest
from linetrace.central.store import open_engine
from tests.central.helpers import (
    STATION,
    Publisher,
    central_settings,
    events_topic,
    make_event,
    register,
)
from tests.conditions import WAIT_S, wait_until

ACK_TOPIC = topic(StationId.parse(STATION), Channel.ACK)


class AckListener:
    """A subscription to the station's ``ack`` topic, remembering what arrives.

    It logs in as a monitor, not as the station: the broker allows one connection per
    account, so the station's own login would be thrown off by the test's publishes.
    """

    def __init__(self, broker: LocalBroker, credentials: Credentials) -> None:
        self.received: list[tuple[int, bool]] = []  # (seq, retained)
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"ack-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(credentials.username, credentials.password)
        self._client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(ACK_TOPIC, qos=1)
        self._client.on_subscribe = lambda *_args: self._subscribed.set()
        self._client.on_message = self._on_message
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()
        if not self._subscribed.wait(WAIT_S):
            raise TimeoutError("ack subscription not granted")

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return  # a cleared retained message
        ack = AckWatermark.model_validate_json(message.payload)
        with self._lock:
            self.received.append((ack.seq, bool(message.retain)))

    @property
    def last(self) -> int | None:
        with self._lock:
            return self.received[-1][0] if self.received else None

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@contextmanager
def listening(broker: LocalBroker) -> Iterator[AckListener]:
    listener = AckListener(
        broker, broker.service(f"ack-watch-{secrets.token_hex(3)}", Role.MONITOR)
    )
    try:
        yield listener
    finally:
        listener.close()


@contextmanager
def ingest_on(broker: LocalBroker, database_url: str) -> Iterator[Ingest]:
    credentials = broker.service("central")
    settings = central_settings(
        database_url,
        host=broker.host,
        port=broker.port,
        username=credentials.username,
        password=credentials.password,
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


@pytest.fixture
def station(mqtt_broker: LocalBroker) -> Credentials:
    return mqtt_broker.station(STATION)


def publish(broker: LocalBroker, credentials: Credentials, *payloads: bytes) -> None:
    with Publisher(broker.host, broker.port, credentials.username, credentials.password) as pub:
        for payload in payloads:
            pub.publish(events_topic(), payload)


def test_the_watermark_is_published_retained_and_follows_the_gaps(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    register(database_url, STATION)
    with ingest_on(mqtt_broker, database_url), listening(mqtt_broker) as acks:
        publish(mqtt_broker, station, *(make_event(seq).to_payload() for seq in (1, 2, 3)))
        wait_until(lambda: acks.last == 3)
        publish(mqtt_broker, station, make_event(5).to_payload())
        publish(mqtt_broker, station, make_event(6).to_payload())
        publish(mqtt_broker, station, make_event(4).to_payload())
        wait_until(lambda: acks.last == 6)
        seqs = [seq for seq, _ in acks.received]
        assert seqs == sorted(seqs), "never backwards"
        assert 5 not in seqs, "never past a gap"
        with listening(mqtt_broker) as late:
            wait_until(lambda: late.received == [(6, True)])


def test_watermarks_are_republished_after_a_reconnect(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    register(sqlite_url, STATION)
    with ingest_on(mqtt_broker, sqlite_url) as ingest:
        with listening(mqtt_broker) as acks:
            publish(mqtt_broker, station, *(make_event(seq).to_payload() for seq in (1, 2)))
            wait_until(lambda: acks.last == 2)
        # Another central-role client clears the retained ack, as a broker that restarts
        # from an old or lost persistence file would have it.
        probe = mqtt_broker.service("probe")
        with Publisher(mqtt_broker.host, mqtt_broker.port, probe.username, probe.password) as p:
            p.publish(ACK_TOPIC, b"", retain=True)
        with listening(mqtt_broker) as acks:
            assert acks.received == []
        published = ingest.stats().acks_published
        mqtt_broker.stop()
        mqtt_broker.start()
        wait_until(lambda: ingest.subscribed)
        wait_until(lambda: ingest.stats().acks_published > published)
        with listening(mqtt_broker) as acks:
            # Retained if the republish came before this subscription, live if after (the
            # count above may include a publish the dropped connection never sent).
            wait_until(lambda: [seq for seq, _ in acks.received] == [2])


def test_a_conflicting_resend_raises_an_alarm(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    register(database_url, STATION)
    original = json.loads(make_event(1).to_payload())
    altered = {**original, "frames": 99}
    with ingest_on(mqtt_broker, database_url) as ingest:
        publish(mqtt_broker, station, json.dumps(original).encode(), json.dumps(altered).encode())
        wait_until(lambda: ingest.stats().conflicts == 1)
        assert (ingest.stats().stored, ingest.stats().duplicates) == (1, 1)
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            (alarm,) = list_alarms(connection, kind=EVENT_CONFLICT)
    finally:
        engine.dispose()
    assert alarm.key == original["event_id"]
    assert alarm.station == STATION


def test_an_unknown_station_is_dead_lettered_then_replayed_and_acknowledged(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    engine = open_engine(database_url)
    try:
        with (
            ingest_on(mqtt_broker, database_url) as ingest,
            listening(mqtt_broker) as acks,
        ):
            publish(mqtt_broker, station, *(make_event(s).to_payload() for s in (1, 2, 3)))
            wait_until(lambda: ingest.stats().dead_lettered == 3)
            assert ingest.stats().stored == 0
            assert acks.received == []
            register(database_url, STATION)
            report = replay_dead_letters(engine, reason_prefix="unknown station")
            assert (report.examined, report.stored) == (3, 3)
            # The running ingest notices the watermark the replay moved, and publishes.
            wait_until(lambda: acks.last == 3)
    finally:
        engine.dispose()
