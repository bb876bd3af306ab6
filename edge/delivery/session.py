"""The publisher's MQTT session: paho's callbacks, on paho's network thread.

They only note what happened in the :class:`~linetrace.edge.delivery.link_state.LinkState`
and wake the drain thread, so nothing slow runs on the network thread: connections (and
the subscriptions every clean start needs again), PUBACKs, central's ``ack`` watermark
and the ``batch`` announcements, which go to the agent's listener.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from linetrace.broker.client import MqttSettings
from linetrace.broker.contract.messages import AckWatermark
from linetrace.edge.delivery.link_state import LinkState

__all__ = ["BatchListener", "BrokerSession"]

logger = logging.getLogger(__name__)

BatchListener = Callable[[bytes], object]


class BrokerSession:
    """Paho's callbacks for one station's publisher; :meth:`attach` sets them on a client."""

    def __init__(
        self,
        state: LinkState,
        config: MqttSettings,
        *,
        max_inflight: int,
        ack_topic: str,
        batch_topic: str,
        on_batch: BatchListener | None = None,
    ) -> None:
        self._state = state
        self._config = config
        self._max_inflight = max_inflight
        self._ack_topic = ack_topic
        self._batch_topic = batch_topic
        self._on_batch = on_batch

    def attach(self, client: mqtt.Client) -> None:
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_publish = self._on_publish
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason: ReasonCode,
        properties: Properties | None,
    ) -> None:
        if reason.is_failure:
            logger.warning(
                "broker %s:%d refused the connection: %s",
                self._config.host,
                self._config.port,
                reason,
            )
            return
        # Subscriptions are made on every connect (clean start: the broker forgets them),
        # and the retained watermark and batch arrive right after.
        client.subscribe([(self._ack_topic, 1), (self._batch_topic, 1)])
        receive_maximum = getattr(properties, "ReceiveMaximum", None)
        state = self._state
        with state.wake:
            state.connected = True
            state.connects += 1
            state.generation += 1
            # MQTT v5: never have more in flight than the broker says it will take.
            state.window_limit = min(self._max_inflight, receive_maximum or self._max_inflight)
            state.wake_drain()
            window = state.window_limit
        logger.info(
            "connected to %s:%d (window %d)",
            self._config.host,
            self._config.port,
            window,
        )

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        logger.warning(
            "cannot reach broker %s:%d; retrying with backoff",
            self._config.host,
            self._config.port,
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        state = self._state
        with state.wake:
            was_connected, closing = state.connected, state.closing
            state.connected = False
            if was_connected:
                state.disconnects += 1
            state.wake_drain()
        if was_connected and not closing:
            logger.warning("disconnected from the broker: %s; will reconnect", reason)

    def _on_publish(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        mid: int,
        reason: ReasonCode,
        _properties: Properties,
    ) -> None:
        with self._state.wake:
            self._state.acks.append((mid, reason))
            self._state.wake_drain()

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._state.wake:
            if self._state.subscribed_at is None:
                self._state.subscribed_at = time.monotonic()
        refused = [str(reason) for reason in reasons if reason.is_failure]
        if refused:
            logger.error(
                "broker refused the subscription to %s / %s: %s; events stay in the outbox "
                "until a watermark arrives (check the broker's ACL)",
                self._ack_topic,
                self._batch_topic,
                ", ".join(refused),
            )

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        if message.topic == self._batch_topic:
            if self._on_batch is not None:
                self._on_batch(payload)
        elif message.topic == self._ack_topic:
            self._hear_watermark(payload, live=not message.retain)

    def _hear_watermark(self, payload: bytes, *, live: bool) -> None:
        """``live``: central published it just now (not the retained copy handed to a new
        subscription), so central is connected and subscribed to the events again."""
        if not payload:
            return  # a cleared retained ack: nothing covered, nothing to forget
        state = self._state
        try:
            watermark = AckWatermark.model_validate_json(payload).seq
        except ValidationError as exc:
            with state.wake:
                state.bad_acks += 1
            logger.error("ack on %s refused: %s", self._ack_topic, exc.errors()[0]["msg"])
            return
        with state.wake:
            if state.heard_watermark is None or watermark > state.heard_watermark:
                state.heard_watermark = watermark
            state.central_live = state.central_live or live
            state.wake_drain()
