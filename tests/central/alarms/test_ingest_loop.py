"""The running ingest's own sweep loop raises and clears a threshold alarm: events over
MQTT into a real Mosquitto, a real central ingest, no sweep called by the test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.derive import alarm_sweeper
from linetrace.central.derive.alarms import list_alarms
from linetrace.central.ingest.service import Ingest
from linetrace.central.store import open_engine
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


def open_kinds(database_url: str) -> set[str]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return {alarm.kind for alarm in list_alarms(connection, station=STATION)}
    finally:
        engine.dispose()


def test_the_ingest_loop_raises_and_clears_a_read_rate_alarm(
    mqtt_broker: LocalBroker, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Judge the rates on every sweep rather than every 15 s, so the test waits seconds.
    monkeypatch.setattr(alarm_sweeper, "RATE_SWEEP_EVERY_S", 0.0)
    register(database_url, STATION)
    account = mqtt_broker.service("central")
    settings = central_settings(
        database_url,
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=account.username,
        password=account.password,
        client_id="central",
    )
    engine = open_engine(database_url)
    ingest = Ingest(settings, engine)
    ingest.start()
    station = mqtt_broker.station(STATION)
    now = datetime.now(UTC).astimezone(HCM)
    kinds = ["read"] * 15 + ["noread"] * 5 + ["read"] * 60
    scans = [
        make_event(n, observed_at=now - timedelta(milliseconds=100 - n), kind=kind)
        for n, kind in enumerate(kinds, start=1)
    ]
    try:
        wait_until(lambda: ingest.subscribed)
        with Publisher(
            mqtt_broker.host, mqtt_broker.port, station.username, station.password
        ) as pub:
            pub.publish_all(events_topic(), [scan.to_payload() for scan in scans[:20]])
            wait_until(lambda: {"read_rate", "noreads"} <= open_kinds(database_url))
            pub.publish_all(events_topic(), [scan.to_payload() for scan in scans[20:]])
            wait_until(lambda: not {"read_rate", "noreads"} & open_kinds(database_url))
    finally:
        ingest.stop()
        engine.dispose()
