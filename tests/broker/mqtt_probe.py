"""A blocking MQTT v5 client for tests: every call waits for the broker's answer.

Tests assert on the broker's reason codes (CONNACK, SUBACK, PUBACK) and on what arrives,
so this wraps paho's threaded loop in calls that return those codes.
"""

from __future__ import annotations

import queue
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.mosquitto import Credentials

# Every answer from a local broker comes in milliseconds; a loaded test box gets headroom.
ANSWER_TIMEOUT_S = 5.0
# How long "nothing arrives" is watched: local delivery takes milliseconds, so a message
# that has not come in this time was not delivered.
SILENCE_S = 0.5

SUCCESS = 0
# MQTT v5 reason code 0x87; Mosquitto 2.0 also answers a wrong password with it.
NOT_AUTHORIZED = 135
PACKET_TOO_LARGE = 149  # 0x95
NO_MATCHING_SUBSCRIBERS = 16  # 0x10: a successful PUBACK that nobody was subscribed
ACCEPTED = frozenset({SUCCESS, NO_MATCHING_SUBSCRIBERS})


@dataclass(frozen=True)
class Received:
    topic: str
    payload: bytes
    retain: bool


class Probe:
    """One connection to the broker, with results returned instead of called back."""

    def __init__(
        self,
        host: str,
        port: int,
        credentials: Credentials | None,
        *,
        client_id: str = "",
        tls_ca: Path | None = None,
    ) -> None:
        self.host, self.port = host, port
        settings = MqttSettings(
            host=host,
            port=port,
            username=credentials.username if credentials is not None else None,
            password=SecretStr(credentials.password) if credentials is not None else None,
            tls=tls_ca is not None,
            tls_ca_file=tls_ca,
        )
        self._client = make_client(settings, client_id=client_id, reconnect_on_failure=False)
        self.messages: queue.Queue[Received] = queue.Queue()
        self.disconnect_reason: int | None = None
        self._disconnected = threading.Event()
        self._connack: queue.Queue[int] = queue.Queue()
        self._acks: dict[int, queue.Queue[int]] = {}
        self._lock = threading.Lock()
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._client.on_disconnect = self._on_disconnect

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def connect(self) -> int:
        """The CONNACK reason code (0 when accepted)."""
        self._client.connect(self.host, self.port, keepalive=30)
        self._client.loop_start()
        return self._connack.get(timeout=ANSWER_TIMEOUT_S)

    def subscribe(self, topic_filter: str, qos: int = 1) -> int:
        """The SUBACK reason code (the granted QoS when accepted)."""
        result, mid = self._client.subscribe(topic_filter, qos)
        assert result == mqtt.MQTT_ERR_SUCCESS, result
        assert mid is not None
        return self._wait_ack(mid)

    def publish(self, topic: str, payload: bytes, *, qos: int = 1, retain: bool = False) -> int:
        """The PUBACK reason code of a QoS 1 publish (0 when the broker took it)."""
        info = self._client.publish(topic, payload, qos=qos, retain=retain)
        return self._wait_ack(info.mid)

    def publish_unanswered(self, topic: str, payload: bytes) -> int | None:
        """Publish QoS 1; the PUBACK reason code, or None when the broker hung up instead."""
        info = self._client.publish(topic, payload, qos=1)
        try:
            return self._wait_ack(info.mid)
        except ConnectionError:
            return None

    def next_message(self, timeout: float = ANSWER_TIMEOUT_S) -> Received:
        return self.messages.get(timeout=timeout)

    def assert_silent(self, duration: float = SILENCE_S) -> None:
        """Fail if any message arrives within ``duration``."""
        try:
            unexpected = self.messages.get(timeout=duration)
        except queue.Empty:
            return
        raise AssertionError(f"unexpected message on {unexpected.topic}: {unexpected.payload!r}")

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _wait_ack(self, mid: int) -> int:
        """The reason code acknowledging ``mid``; ConnectionError when the broker hung up."""
        answers = self._ack_queue(mid)
        deadline = time.monotonic() + ANSWER_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                return answers.get(timeout=0.01)
            except queue.Empty:
                if self._disconnected.is_set():
                    reason = self.disconnect_reason
                    raise ConnectionError(f"disconnected, reason {reason}") from None
        raise TimeoutError(f"no acknowledgement for message {mid}")

    def _ack_queue(self, mid: int) -> queue.Queue[int]:
        with self._lock:
            return self._acks.setdefault(mid, queue.Queue())

    def _on_connect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self._connack.put(reason.value)

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.messages.put(Received(message.topic, bytes(message.payload), bool(message.retain)))

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        self._ack_queue(mid).put(reason.value)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reasons: list[ReasonCode],
        _properties: Properties,
    ) -> None:
        self._ack_queue(mid).put(reasons[0].value)

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        self.disconnect_reason = reason.value
        self._disconnected.set()
