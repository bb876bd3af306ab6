"""A stand-in for central in edge tests: subscribes to every station's events and status.

It subscribes again on every connect. Mosquitto 2.0 does not bring a v5 session back after
a restart, so a test that restarts the broker waits for :meth:`EventSink.wait_subscribed`
before it counts on delivery (or lets the publisher offer refused events again).
"""

from __future__ import annotations

import threading
import time
from types import TracebackType
from typing import Any, Self

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linetrace.broker.contract.messages import ScanEvent, StationStatus, parse_event
from linetrace.broker.contract.topics import Channel, parse_topic, subscription
from linetrace.broker.mosquitto import Credentials

# A local broker answers in milliseconds; a loaded two-core test box gets headroom.
ANSWER_TIMEOUT_S = 10.0


class EventSink:
    """Collects scan events and status messages as they arrive."""

    def __init__(self, host: str, port: int, credentials: Credentials) -> None:
        self.host, self.port = host, port
        self.events: list[ScanEvent] = []
        self.statuses: list[StationStatus] = []
        self._changed = threading.Condition()
        self._subscriptions = 0  # SUBACKs received, one per (re)connect
        self._subscribe_on_connect = True
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="test-central",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(credentials.username, credentials.password)
        self._client.reconnect_delay_set(1, 2)
        self._client.on_connect = self._on_connect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message

    def __enter__(self) -> Self:
        self._client.connect_async(self.host, self.port, keepalive=10)
        self._client.loop_start()
        try:
            self.wait_subscribed(1)
        except TimeoutError:
            self.close()
            raise
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def wait_for_events(self, count: int, timeout: float = ANSWER_TIMEOUT_S) -> list[ScanEvent]:
        """Every event received once at least ``count`` distinct event ids arrived."""
        with self._changed:
            self._changed.wait_for(lambda: len(self.event_ids()) >= count, timeout)
            return list(self.events)

    def wait_for_status(self, state: str, timeout: float = ANSWER_TIMEOUT_S) -> StationStatus:
        with self._changed:
            found = self._changed.wait_for(
                lambda: any(status.state == state for status in self.statuses), timeout
            )
            assert found, f"no {state} status in {self.statuses}"
            return next(status for status in self.statuses if status.state == state)

    def wait_subscribed(self, times: int, timeout: float = ANSWER_TIMEOUT_S) -> None:
        """Wait until the subscription was made ``times`` times (1 + reconnects)."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._subscriptions >= times, timeout):
                raise TimeoutError(f"subscribed {self._subscriptions} times, not {times}")

    def forget(self) -> None:
        """Drop every event and status received so far, as a central that crashed would."""
        with self._changed:
            self.events.clear()
            self.statuses.clear()

    def go_offline(self) -> None:
        """Stop subscribing on (re)connect, so a restarted broker has nobody to deliver to."""
        self._subscribe_on_connect = False

    def come_back(self) -> None:
        """Subscribe again (now if connected, else on connect)."""
        self._subscribe_on_connect = True
        if self._client.is_connected():
            self._subscribe(self._client)

    @property
    def connected(self) -> bool:
        return bool(self._client.is_connected())

    def event_ids(self) -> set[str]:
        return {str(event.event_id) for event in self.events}

    def quiet_for(self, seconds: float) -> list[ScanEvent]:
        """The events after waiting ``seconds`` (for asserting that nothing arrives)."""
        time.sleep(seconds)
        with self._changed:
            return list(self.events)

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if not reason.is_failure and self._subscribe_on_connect:
            self._subscribe(client)

    def _subscribe(self, client: mqtt.Client) -> None:
        client.subscribe([(subscription(Channel.EVENTS), 1), (subscription(Channel.STATUS), 1)])

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties,
    ) -> None:
        assert not any(reason.is_failure for reason in reasons), reasons
        with self._changed:
            self._subscriptions += 1
            self._changed.notify_all()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        _, channel = parse_topic(message.topic)
        with self._changed:
            if channel is Channel.EVENTS:
                self.events.append(parse_event(bytes(message.payload)))
            else:
                self.statuses.append(StationStatus.model_validate_json(message.payload))
            self._changed.notify_all()
