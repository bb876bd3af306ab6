"""Batch announcements through a real Mosquitto: a started batch arrives retained at the
line's stations (subscribed with their own credentials), a closed one is cleared, and a
reconnecting central publishes them again."""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

from linetrace.broker.contract.messages import BatchAnnouncement
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.api.app import create_app
from linetrace.central.derive.production_batches import BatchStart, start_batch
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, STATION, central_settings, register
from tests.central.trace_helpers import LINE, LOT, add_product
from tests.conditions import wait_until

OTHER_STATION = "hcm1/L1/pallet-1"
# Local delivery takes milliseconds: a retained message not delivered in this time is absent.
SILENCE_S = 0.5


class StationSubscriber:
    """A station's own MQTT connection, collecting what arrives on its batch topic."""

    def __init__(self, broker: LocalBroker, credentials: Credentials) -> None:
        self.topic = topic(StationId.parse(credentials.username), Channel.BATCH)
        self.received: list[tuple[bytes, bool]] = []
        self._lock = threading.Lock()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"station-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(credentials.username, credentials.password)
        self._client.on_message = self._on_message
        self._client.on_connect = lambda client, *_: client.subscribe(self.topic, qos=1)
        self._client.connect(broker.host, broker.port, keepalive=30)
        self._client.loop_start()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((bytes(message.payload), bool(message.retain)))

    def payloads(self) -> list[bytes]:
        with self._lock:
            return [payload for payload, _ in self.received]

    def announcement(self) -> BatchAnnouncement:
        """The last announcement received, waiting for one to arrive."""
        wait_until(lambda: any(self.payloads()))
        return BatchAnnouncement.model_validate_json(
            next(p for p in reversed(self.payloads()) if p)
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        _type: type[BaseException] | None,
        _value: BaseException | None,
        _traceback: TracebackType | None,
    ) -> None:
        self._client.disconnect()
        self._client.loop_stop()


@pytest.fixture
def central(mqtt_broker: LocalBroker, database_url: str) -> Iterator[TestClient]:
    """The central service (API, ingest and announcer) on the test broker."""
    register(database_url, STATION)
    service = mqtt_broker.service("central")
    settings = central_settings(
        database_url,
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=service.username,
        password=service.password,
    )
    engine = open_engine(database_url)
    try:
        add_product(engine)
    finally:
        engine.dispose()
    with TestClient(
        create_app(settings, run_ingest=True), headers=login_headers(database_url)
    ) as client:
        wait_until(lambda: client.app.state.ingest.subscribed)  # type: ignore[attr-defined]
        yield client


@contextmanager
def station(broker: LocalBroker, station_id: str = STATION) -> Iterator[StationSubscriber]:
    with StationSubscriber(broker, broker.station(station_id)) as subscriber:
        yield subscriber


def test_a_started_batch_arrives_retained_and_a_closed_one_is_cleared(
    mqtt_broker: LocalBroker, central: TestClient
) -> None:
    started = central.post("/api/batches", json={"line": LINE, "gtin": GTIN, "lot": LOT})
    assert started.status_code == 201, started.text
    with station(mqtt_broker) as first:  # the announcer publishes on its own thread
        first.announcement()
    with station(mqtt_broker) as subscriber:  # subscribes after the publish: retained
        announced = subscriber.announcement()
        assert (announced.batch_id, announced.gtin, announced.lot) == (
            str(started.json()["id"]),
            GTIN,
            LOT,
        )
        assert subscriber.received[-1][1] is True
        closed = central.post(f"/api/batches/{started.json()['id']}/close")
        assert closed.status_code == 200
        wait_until(lambda: subscriber.payloads()[-1] == b"")
    with station(mqtt_broker) as late:
        time.sleep(SILENCE_S)
        assert late.payloads() == []


def test_central_announces_again_after_reconnecting(
    mqtt_broker: LocalBroker, central: TestClient
) -> None:
    started = central.post("/api/batches", json={"line": LINE, "gtin": GTIN, "lot": LOT})
    with station(mqtt_broker) as subscriber:
        assert subscriber.announcement().batch_id == str(started.json()["id"])
    # Someone clears the retained message behind central's back, then the broker restarts.
    with _central_client(mqtt_broker, "ops") as ops:
        cleared_by_hand = ops.publish(
            topic(StationId.parse(STATION), Channel.BATCH), b"", qos=1, retain=True
        )
        cleared_by_hand.wait_for_publish(timeout=SILENCE_S * 10)
        assert cleared_by_hand.is_published()
    with station(mqtt_broker) as cleared:
        time.sleep(SILENCE_S)
        assert cleared.payloads() == []
    mqtt_broker.stop()
    mqtt_broker.start()
    ingest = central.app.state.ingest  # type: ignore[attr-defined]
    wait_until(lambda: ingest.subscribed, timeout=30)
    with station(mqtt_broker) as again:
        assert again.announcement().batch_id == str(started.json()["id"])


def test_stations_new_to_the_line_and_batches_started_elsewhere_are_announced(
    mqtt_broker: LocalBroker, central: TestClient, database_url: str
) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:  # as the CLI does: no API call, no wake-up
            batch = start_batch(connection, BatchStart(line=LINE, gtin=GTIN, lot=LOT))
    finally:
        engine.dispose()
    register(database_url, OTHER_STATION)
    central.app.state.announcer.wake()  # type: ignore[attr-defined]  # the periodic pass
    with station(mqtt_broker, OTHER_STATION) as newcomer, station(mqtt_broker) as known:
        assert newcomer.announcement().batch_id == str(batch.id)
        assert known.announcement().batch_id == str(batch.id)


@contextmanager
def _central_client(broker: LocalBroker, name: str) -> Iterator[mqtt.Client]:
    credentials = broker.service(name)
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=f"{name}-{secrets.token_hex(4)}",
        protocol=MQTTProtocolVersion.MQTTv5,
    )
    client.username_pw_set(credentials.username, credentials.password)
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        yield client
    finally:
        client.disconnect()
        client.loop_stop()
