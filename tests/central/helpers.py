"""Building scan events and talking to the broker, for the central tests."""

from __future__ import annotations

import secrets
from datetime import datetime, timedelta, timezone
from types import TracebackType
from typing import Any, Self
from uuid import UUID

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import SecretStr

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.central.config import (
    ApiSettings,
    CentralMqttSettings,
    CentralSettings,
    DatabaseSettings,
    IngestSettings,
)
from linetrace.central.derive.stations import register_station
from linetrace.central.store import open_engine
from tests.conditions import WAIT_S

STATION = "hcm1/L1/pack-1"
# A GTIN-14 with a valid check digit (central refuses keys with a wrong one).
GTIN = "08938500000010"
HCM = timezone(timedelta(hours=7))


def uuid7(at: datetime | None = None) -> UUID:
    """A UUIDv7 (RFC 9562): 48-bit Unix milliseconds, version, variant, random bits."""
    millis = int((at or datetime.now(HCM)).timestamp() * 1000)
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def make_event(
    seq: int = 1,
    *,
    station: str = STATION,
    observed_at: datetime | None = None,
    text: str | None = None,
    gs1: dict[str, str] | None = None,
    kind: str = "read",
    **extra: Any,
) -> ScanEvent:
    """A valid read event; by default a GS1 DataMatrix whose serial is ``seq``."""
    parsed = StationId.parse(station)
    when = observed_at or datetime(2025, 3, 1, 8, 0, tzinfo=HCM) + timedelta(seconds=seq)
    serial = f"{seq:06d}"
    if kind == "noread":
        text, gs1 = None, None
    elif text is None:
        text = f"01{GTIN}10L2611\x1d21{serial}"
        gs1 = {"01": GTIN, "10": "L2611", "21": serial} if gs1 is None else gs1
    return ScanEvent.model_validate(
        {
            "event_id": uuid7(when),
            "site": parsed.site,
            "line": parsed.line,
            "station": parsed.station,
            "seq": seq,
            "kind": kind,
            "observed_at": when,
            "symbology": None if kind == "noread" else "DataMatrix",
            "symbology_id": None if kind == "noread" else "]d2",
            "text": text,
            "gs1": gs1,
            "frames": 3,
            **extra,
        }
    )


def register(database_url: str, *station_ids: str) -> None:
    """Register stations (default: STATION) so that their events are taken in."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            for station_id in station_ids or (STATION,):
                register_station(connection, StationId.parse(station_id), registered_by="test")
    finally:
        engine.dispose()


def events_topic(station: str = STATION) -> str:
    return topic(StationId.parse(station), Channel.EVENTS)


def central_settings(
    database_url: str,
    *,
    host: str = "127.0.0.1",
    port: int = 1883,
    username: str | None = None,
    password: str | None = None,
    client_id: str = "central-test",
    ingest: IngestSettings | None = None,
) -> CentralSettings:
    return CentralSettings(
        database=DatabaseSettings(url=database_url),
        mqtt=CentralMqttSettings(
            host=host,
            port=port,
            username=username,
            password=SecretStr(password) if password is not None else None,
            client_id=client_id,
        ),
        ingest=ingest or IngestSettings(),
        # Starlette's TestClient sends "Host: testserver".
        api=ApiSettings(allowed_hosts=("testserver",)),
    )


class Publisher:
    """A station's MQTT v5 connection that publishes QoS 1 and waits for each PUBACK."""

    def __init__(self, host: str, port: int, username: str, password: str) -> None:
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"pub-{secrets.token_hex(4)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(username, password)
        self._client.connect(host, port, keepalive=30)
        self._client.loop_start()

    def publish(self, topic_name: str, payload: bytes, qos: int = 1, retain: bool = False) -> None:
        info = self._client.publish(topic_name, payload, qos=qos, retain=retain)
        info.wait_for_publish(timeout=WAIT_S)
        if not info.is_published():
            raise TimeoutError(f"publish to {topic_name} not acknowledged (rc {info.rc})")

    def publish_all(self, topic_name: str, payloads: list[bytes]) -> None:
        """Publish without waiting between messages (as fast as the client can), then wait."""
        infos = [self._client.publish(topic_name, payload, qos=1) for payload in payloads]
        for info in infos:
            info.wait_for_publish(timeout=WAIT_S)
            if not info.is_published():
                raise TimeoutError(f"publish to {topic_name} not acknowledged (rc {info.rc})")

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
