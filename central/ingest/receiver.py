"""The MQTT side of the ingest, in a process of its own: receive, batch, acknowledge.

Central's writer thread and paho's network thread shared one GIL, and every PUBACK
waited behind a commit. Here the subscribing client runs alone in a child process
(started by :mod:`linetrace.central.ingest.supervisor`), so receiving and acknowledging
take a core of their own. The child imports paho, the shared client factory
(:mod:`linetrace.broker.client`) and the standard library only: the database, the API
and the event models stay in the parent.

The child never decides that a message is stored. It forwards what it receives to the
parent over a pipe, in batches, and acknowledges a message only when the parent says
that its batch was committed, and only if the connection the message came on is still
the current one (a packet id of an earlier connection may name another message now).
When the pipe closes (the parent stopped or died) the child disconnects and exits
without acknowledging anything more.

The pipe carries tuples of plain values, cheap to pickle:

- child to parent: ``("batch", [Received...], counts)``, ``("state", State, generation)``,
  ``("counts", counts)``, ``("drained", counts)``, ``("log", level, text)``;
- parent to child: ``("ack", count, [(generation, mid, qos)...])``,
  ``("publish", topic, payload)``, ``("drain",)``, ``("stop",)``.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from multiprocessing.connection import Connection
from typing import Any, NamedTuple

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions

from linetrace.broker.client import MqttSettings, connect_properties, make_client
from linetrace.logs import configure_logging

__all__ = [
    "GENERATIONS_PER_CHILD",
    "QOS0_HEADROOM",
    "Received",
    "ReceiverConfig",
    "ReceiverCounts",
    "State",
    "receiver_main",
]

log = logging.getLogger(__name__)

# QoS 0 messages are not counted against Receive Maximum; room for a few batches of them
# beyond it before they are dropped and counted.
QOS0_HEADROOM = 1000
# Counters changed by acknowledgements reach the parent at most this often: /healthz
# and the tests read them, nothing waits on them.
COUNTS_EVERY_S = 0.1
# Each child numbers its connections from ``incarnation * GENERATIONS_PER_CHILD``, so a
# restarted child never takes an acknowledgement meant for its predecessor's connection.
GENERATIONS_PER_CHILD = 1 << 32


class Received(NamedTuple):
    """One message as the child forwards it: what storing and acknowledging it needs."""

    topic: str
    payload: bytes
    qos: int
    mid: int
    generation: int  # the connection it came on
    received_at: float  # time.time() on arrival


class ReceiverCounts(NamedTuple):
    """What the child counted since it started."""

    received: int = 0
    dropped: int = 0  # QoS 0 messages dropped beyond max_in_flight plus the headroom
    acked: int = 0
    stale_acks: int = 0  # acknowledgements refused: the message came on an earlier connection


class State(StrEnum):
    """The connection events the parent follows."""

    CONNECTED = "connected"
    DISCONNECTED = "disconnected"
    SUBSCRIBED = "subscribed"


@dataclass(frozen=True, slots=True)
class ReceiverConfig:
    """Everything the child needs: the broker connection and how to batch."""

    mqtt: MqttSettings
    subscription: str  # the events, at QoS 1: "subscribed" means this one is granted
    max_in_flight: int
    batch_size: int
    flush_interval_s: float
    incarnation: int
    # Further (filter, QoS) pairs taken in the same way (the stations' status).
    also: tuple[tuple[str, int], ...] = ()


def receiver_main(config: ReceiverConfig, link: Connection) -> None:
    """The child's entry point: run until the parent says stop or its end of the pipe closes."""
    # Ctrl-C and a service manager's SIGTERM reach the whole process group; the parent
    # stops the child in order (commit, acknowledge, disconnect), so the child waits for it.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    # This module's records go to the parent through the pipe; the rest (paho's) are
    # logged here, in the parent's format, from the environment.
    configure_logging(logging.WARNING)
    Receiver(config, link).run()


class _PipeLogHandler(logging.Handler):
    """Sends the child's log records to the parent, which logs them with its own setup."""

    def __init__(self, send: Any) -> None:
        super().__init__(logging.INFO)
        self._send = send

    def emit(self, record: logging.LogRecord) -> None:
        self._send(("log", record.levelno, record.getMessage()))


class Receiver:
    """The subscribing MQTT client and its two threads: paho's network thread and the pipe."""

    def __init__(self, config: ReceiverConfig, link: Connection) -> None:
        self._config = config
        self._link = link
        # One lock for the pending batch, the counters, the generation and the pipe's
        # sending end: paho's network thread and the main thread both touch them.
        # Reentrant, because a record logged while it is held goes through the pipe too.
        self._lock = threading.RLock()
        self._pending: list[Received] = []
        self._pending_since = 0.0
        self._outstanding = 0  # forwarded, not yet reported committed by the parent
        self._counts = ReceiverCounts()
        self._generation = config.incarnation * GENERATIONS_PER_CHILD
        self._closing = False
        self._over_receive_maximum_logged = False
        self._client = self._make_client()
        log.addHandler(_PipeLogHandler(self._send))
        log.setLevel(logging.INFO)
        log.propagate = False

    def run(self) -> None:
        """Connect (retrying in the background), then serve the parent's requests."""
        config = self._config
        self._client.connect_async(
            config.mqtt.host,
            config.mqtt.port,
            keepalive=config.mqtt.keepalive_s,
            clean_start=False,
            properties=connect_properties(config.mqtt, receive_maximum=config.max_in_flight),
        )
        self._client.loop_start()
        try:
            self._serve()
        finally:
            self._client.disconnect()
            self._client.loop_stop()
            self._link.close()

    # -- the main thread: the parent's requests and the flush timer ------------------------

    def _serve(self) -> None:
        last_counts = self._counts
        next_counts = time.monotonic() + COUNTS_EVERY_S
        while True:
            try:
                if self._link.poll(self._config.flush_interval_s) and not self._handle(
                    self._link.recv()
                ):
                    return
            except (EOFError, OSError):
                return  # the parent is gone: acknowledge nothing more
            self._flush_if_due()
            if time.monotonic() >= next_counts:
                next_counts = time.monotonic() + COUNTS_EVERY_S
                if self._counts != last_counts:
                    last_counts = self._counts
                    self._send(("counts", last_counts))

    def _handle(self, request: tuple[Any, ...]) -> bool:
        """Carry out one request of the parent; False on ``stop``."""
        kind = request[0]
        if kind == "ack":
            self._acknowledge(request[1], request[2])
        elif kind == "publish":
            self._publish(request[1], request[2])
        elif kind == "drain":
            with self._lock:
                self._closing = True
                self._flush_locked()
                self._link.send(("drained", self._counts))
        elif kind == "stop":
            self._send(("counts", self._counts))  # the last acknowledgements counted
            return False
        return True

    def _acknowledge(self, count: int, acks: list[tuple[int, int, int]]) -> None:
        with self._lock:
            self._outstanding = max(0, self._outstanding - count)
            acked = stale = 0
            for generation, mid, qos in acks:
                if generation != self._generation:
                    stale += 1
                    continue
                code = self._client.ack(mid, qos)
                if code is MQTTErrorCode.MQTT_ERR_SUCCESS:
                    acked += 1
            counts = self._counts
            self._counts = counts._replace(
                acked=counts.acked + acked, stale_acks=counts.stale_acks + stale
            )

    def _publish(self, topic_name: str, payload: bytes) -> None:
        # Nothing is queued while disconnected (paho would send it on the next
        # connection, after newer state): the parent republishes from its connect listeners.
        if not self._client.is_connected():
            return
        info = self._client.publish(topic_name, payload, qos=1, retain=True)
        if info.rc is not MQTTErrorCode.MQTT_ERR_SUCCESS:
            log.warning("publish on %s not sent: %s", topic_name, info.rc)

    def _flush_if_due(self) -> None:
        with self._lock:
            if self._pending and time.monotonic() - self._pending_since >= (
                self._config.flush_interval_s
            ):
                self._flush_locked()

    def _flush_locked(self) -> None:
        if self._pending:
            batch, self._pending = self._pending, []
            self._link.send(("batch", batch, self._counts))

    def _send(self, message: tuple[Any, ...]) -> None:
        # A closed pipe means the parent is gone; the main thread notices and exits.
        with self._lock, contextlib.suppress(OSError):
            self._link.send(message)

    # -- paho's network thread ---------------------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        client = make_client(self._config.mqtt, manual_ack=True)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _on_connect(
        self,
        client: mqtt.Client,
        _userdata: Any,
        flags: mqtt.ConnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        if reason_code.is_failure:
            log.error("broker refused the connection: %s", reason_code)
            return
        with self._lock:
            self._generation += 1
            generation = self._generation
        log.info("connected to the broker (session resumed: %s)", flags.session_present)
        # Subscribing here, not once after connect, so that every reconnect resubscribes.
        # It goes out before the CONNECTED state below, after which the parent republishes
        # every watermark on this connection: a station takes that live watermark as
        # central being subscribed again and resends what the broker dropped meanwhile.
        client.subscribe(
            [
                (self._config.subscription, SubscribeOptions(qos=1)),
                *((name, SubscribeOptions(qos=qos)) for name, qos in self._config.also),
            ]
        )
        self._send(("state", State.CONNECTED, generation))

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        log.warning(
            "cannot reach the broker at %s:%s; retrying",
            self._config.mqtt.host,
            self._config.mqtt.port,
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._lock:
            self._generation += 1
            generation, closing = self._generation, self._closing
        if not closing:
            log.warning("lost the broker (%s); reconnecting", reason_code)
        self._send(("state", State.DISCONNECTED, generation))

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        filters = [self._config.subscription, *(name for name, _ in self._config.also)]
        for name, code in zip(filters, reason_codes, strict=False):
            if code.is_failure:
                log.error("broker refused the subscription to %s: %s", name, code)
        if not reason_codes or reason_codes[0].is_failure:
            return
        with self._lock:
            generation = self._generation
        self._send(("state", State.SUBSCRIBED, generation))

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            if self._closing:
                return  # unacknowledged: the broker hands it to this session again
            self._counts = self._counts._replace(received=self._counts.received + 1)
            if message.qos == 0 and self._outstanding >= self._config.max_in_flight + QOS0_HEADROOM:
                self._counts = self._counts._replace(dropped=self._counts.dropped + 1)
                dropped = True
            else:
                dropped = False
                self._take(message)
        if dropped:
            log.warning("ingest queue full; dropped a QoS 0 message on %s", message.topic)

    def _take(self, message: mqtt.MQTTMessage) -> None:
        """Add a message to the pending batch (the lock held); send the batch when full."""
        if not self._pending:
            self._pending_since = time.monotonic()
        self._pending.append(
            Received(
                message.topic,
                bytes(message.payload),
                message.qos,
                message.mid,
                self._generation,
                time.time(),
            )
        )
        self._outstanding += 1
        if self._outstanding > self._config.max_in_flight and not self._over_receive_maximum_logged:
            self._over_receive_maximum_logged = True
            log.warning(
                "the broker sent more than Receive Maximum (%s) unacknowledged messages; "
                "forwarding them anyway (a known Mosquitto 2.0.11 quota bug)",
                self._config.max_in_flight,
            )
        if len(self._pending) >= self._config.batch_size:
            self._flush_locked()
