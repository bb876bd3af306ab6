"""The ingest against a real Mosquitto: stored once, dead letters with reasons, acks after
commit, restarts of central and of the broker."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
import sqlalchemy as sa

from linetrace.broker.contract.messages import MAX_EVENT_BYTES
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.config import CentralSettings, IngestSettings
from linetrace.central.ingest.service import Ingest
from linetrace.central.store import dead_letters, events, open_engine
from linetrace.ports import free_port
from tests.central.helpers import (
    STATION,
    Publisher,
    central_settings,
    events_topic,
    make_event,
    register,
)
from tests.conditions import WAIT_S, wait_until

# Local delivery takes milliseconds: a message not delivered in this time was not sent.
SILENCE_S = 0.5


@pytest.fixture
def station(mqtt_broker: LocalBroker) -> Credentials:
    return mqtt_broker.station(STATION)


def settings_for(
    broker: LocalBroker, database_url: str, ingest: IngestSettings | None = None
) -> CentralSettings:
    credentials = broker.service("central")
    register(database_url, STATION)
    return central_settings(
        database_url,
        host=broker.host,
        port=broker.port,
        username=credentials.username,
        password=credentials.password,
        ingest=ingest,
    )


@contextmanager
def running(settings: CentralSettings, database_url: str | None = None) -> Iterator[Ingest]:
    engine = open_engine(database_url or settings.database_url)
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


def count(database_url: str, table: sa.Table) -> int:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            )
    finally:
        engine.dispose()


def settled(ingest: Ingest, received: int) -> bool:
    stats = ingest.stats()
    done = stats.stored + stats.duplicates + stats.dead_lettered
    return stats.received >= received and done >= received and stats.queued == 0


def test_events_are_stored_once_and_bad_messages_dead_lettered(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    first, second = make_event(1), make_event(2)
    bad = {
        "not JSON": b"\x00garbage",
        "unsupported major version": json.dumps({"schema_version": "2.0"}).encode(),
        "names station hcm1/L1/other": make_event(3, station="hcm1/L1/other").to_payload(),
        "exceeds 65536": b" " * (MAX_EVENT_BYTES + 100),
    }
    settings = settings_for(mqtt_broker, database_url)
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        for payload in [first.to_payload(), *bad.values(), first.to_payload(), second.to_payload()]:
            pub.publish(events_topic(), payload)
        wait_until(lambda: settled(ingest, 7))
        stats = ingest.stats()
    assert (stats.received, stats.stored, stats.duplicates, stats.dead_lettered) == (7, 2, 1, 4)
    assert count(database_url, events) == 2
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(dead_letters)).all()
    finally:
        engine.dispose()
    assert {row.topic for row in rows} == {events_topic()}
    for expected in bad:
        assert any(expected in row.reason for row in rows), (expected, [r.reason for r in rows])
    oversized = next(row for row in rows if "exceeds" in row.reason)
    assert oversized.payload_size == MAX_EVENT_BYTES + 100
    assert len(oversized.payload) == MAX_EVENT_BYTES


def test_committed_events_are_acknowledged_and_not_delivered_again(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    settings = settings_for(mqtt_broker, sqlite_url)
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        for seq in range(1, 11):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: settled(ingest, 10))
    with running(settings) as again:  # same client id: the broker resumes the session
        time.sleep(SILENCE_S)
        assert again.stats().received == 0
    assert count(sqlite_url, events) == 10


def test_events_received_but_not_committed_are_delivered_again(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str, tmp_path: Path
) -> None:
    settings = settings_for(mqtt_broker, sqlite_url)
    unreachable = f"sqlite:///{tmp_path}"  # a folder: every commit fails
    with running(settings, unreachable) as broken, publisher(mqtt_broker, station) as pub:
        for seq in range(1, 6):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: broken.stats().received == 5 and broken.stats().store_failures > 0)
    with running(settings) as ingest:
        wait_until(lambda: settled(ingest, 5))
    assert count(sqlite_url, events) == 5


def test_a_central_restart_mid_stream_stores_each_event_once(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    total = 300
    settings = settings_for(
        mqtt_broker, sqlite_url, IngestSettings(batch_size=20, max_in_flight=50)
    )
    published = threading.Event()

    def publish_all() -> None:
        with publisher(mqtt_broker, station) as pub:
            for seq in range(1, total + 1):
                pub.publish(events_topic(), make_event(seq).to_payload())
        published.set()

    sender = threading.Thread(target=publish_all)
    with running(settings) as first:
        sender.start()
        wait_until(lambda: first.stats().stored >= total // 4)
    sender.join(timeout=30)
    assert published.is_set()
    with running(settings) as second:
        wait_until(lambda: count(sqlite_url, events) == total)
        time.sleep(SILENCE_S)
        stats = second.stats()
    assert count(sqlite_url, events) == total
    assert stats.dead_lettered == 0


def test_ingest_reconnects_and_resubscribes_after_a_broker_restart(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    settings = settings_for(mqtt_broker, sqlite_url)
    with running(settings) as ingest:
        mqtt_broker.stop()
        wait_until(lambda: not ingest.connected)
        assert ingest.stats().connected is False
        mqtt_broker.start()
        wait_until(lambda: ingest.subscribed)
        with publisher(mqtt_broker, station) as pub:
            pub.publish(events_topic(), make_event(1).to_payload())
        wait_until(lambda: settled(ingest, 1))
    assert count(sqlite_url, events) == 1


def test_without_a_broker_the_ingest_reports_it_and_still_stops_promptly(sqlite_url: str) -> None:
    settings = central_settings(sqlite_url, port=free_port())
    engine = open_engine(sqlite_url)
    ingest = Ingest(settings, engine)
    try:
        ingest.start()
        time.sleep(SILENCE_S)
        stats = ingest.stats()
        assert (stats.connected, stats.subscribed, stats.received) == (False, False, 0)
        began = time.monotonic()
        ingest.stop()
        assert time.monotonic() - began < 3.0
    finally:
        engine.dispose()


def test_no_qos1_message_is_dropped_when_the_broker_overshoots_receive_maximum(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    """Mosquitto 2.0.11 releases everything it queued once acks flow, past Receive Maximum."""
    total = 3000
    settings = settings_for(
        mqtt_broker, sqlite_url, IngestSettings(batch_size=50, max_in_flight=50)
    )
    payloads = [make_event(seq).to_payload() for seq in range(1, total + 1)]
    published = threading.Event()
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        # Hold the first commit until everything is published: the broker queues the rest,
        # then hands it over at once when the first acknowledgements arrive.
        def hold_first_commit(_messages: object, _result: object) -> None:
            published.wait(WAIT_S)

        ingest.add_commit_listener(hold_first_commit)
        pub.publish_all(events_topic(), payloads)
        published.set()
        wait_until(lambda: settled(ingest, total), timeout=60)
        stats = ingest.stats()
    assert (stats.stored, stats.dropped) == (total, 0)
