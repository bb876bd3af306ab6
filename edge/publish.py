"""Delivering the outbox to central through the broker: MQTT v5, QoS 1, nothing lost.

Three threads meet here, and none waits on another for long:

* the agent's loop only appends to the outbox and calls :meth:`Publisher.nudge`;
* paho's network thread (``loop_start``) connects, reconnects with backoff, keeps the link
  alive, reads PUBACKs and the station's ``ack`` and ``batch`` topics; its callbacks only
  note what happened and wake the drain thread;
* the drain thread reads the outbox, publishes, deletes what central covered and sends
  the retained status, so disk I/O never stalls the network thread.

Delivery rule (two acknowledgements): the broker's PUBACK only paces the in-flight window;
an event leaves the outbox only when central's retained ``ack`` watermark covers its
``seq``. What the broker took but central has not covered within ``resend_timeout_s`` is
sent again with the same ``event_id``, and every new connection sends again whatever is
uncovered, so a broker that restarted empty or dropped a full queue loses nothing. Which
event goes next (live passages ahead of an old backlog, refusals retried later) is
:class:`~linetrace.edge.delivery.DeliveryPlan`'s business. A PUBACK with a failure code
(e.g. 135, not authorised) or with 16 (no matching subscribers: the broker dropped it) is
counted and logged, and the event is offered again after ``retry_refused_s``.

Known limitations:

* Central's watermark is the highest *contiguous* committed ``seq``: one event lost
  between broker and central holds it back, and everything after that event is resent
  once ``resend_timeout_s`` passes (central drops the duplicates by ``event_id``).
* After a reconnect an event can reach central more than once (paho retries its in-flight
  messages and the outbox is resent). Central is idempotent on ``event_id``, so this costs
  bandwidth, not correctness.
* A watermark above the last ``seq`` this station ever made means the outbox file was
  replaced under a station central already knows; it is refused with an error (deleting
  on it would drop events never delivered) and an operator must reconcile the two.
* The retained ``offline`` last will carries the time the connection was made and no
  figures, because a will is fixed before anyone knows when the link will die.
* With a wrong TLS CA, paho leaves the socket of each failed handshake to the garbage
  collector (a ResourceWarning, no lasting leak); :func:`check_broker` shakes hands itself
  first and says why.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from pydantic import ValidationError

from linetrace.broker.contract.messages import AckWatermark, StationStatus
from linetrace.broker.contract.topics import Channel, topic
from linetrace.edge.config import MqttConfig
from linetrace.edge.delivery import DeliveryPlan
from linetrace.edge.outbox import Outbox, OutboxError

__all__ = [
    "BrokerError",
    "Publisher",
    "PublisherStats",
    "check_broker",
    "make_client",
    "read_retained",
]

logger = logging.getLogger(__name__)

# Events handed to paho and not yet acknowledged, at most. It bounds paho's memory and the
# duplicates a reconnect can cause, and still covers the bandwidth-delay product of a
# 200 ms cellular link at 500 events/s, 25 times line speed; on a LAN it never binds.
MAX_INFLIGHT = 100
# Reconnect backoff: the first retry after 1 s (a broker restart takes about that), doubling
# up to 30 s so that a fleet of stations does not hammer a broker that stays down.
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
# The drain thread wakes this often even when nobody nudges it: a safety net that bounds
# the delay a lost wake-up could cause, at the cost of one indexed query per second.
IDLE_WAKE_S = 1.0
# How long an event the broker refused (or had no subscriber for) waits before it is offered
# again: a refusal is a provisioning or ACL problem and a missing subscriber is central
# being down, both fixed in minutes, so twice a minute notices the fix soon. A broker that
# refuses a whole window in a row refuses the station, not an event: sending pauses until
# the next retry, so it sees at most two windows per station per half minute.
RETRY_REFUSED_S = 30.0
# How long an event the broker took may stay uncovered by central's watermark before it is
# sent again. Central commits and acknowledges within about a second, and a restarting
# central catches up within seconds more, so a healthy system never resends; an event a
# broker lost (restarted empty, dropped a full queue) goes out again within half a minute,
# long before a full outbox could cost anything.
RESEND_TIMEOUT_S = 30.0
# How often the retained status is refreshed unless the caller says otherwise.
STATUS_INTERVAL_S = 5.0
# MQTT v5 PUBACK reason 0x10: the broker took the message and dropped it, as nobody was
# subscribed (central down without its persistent session). Success to MQTT, loss to us.
NO_MATCHING_SUBSCRIBERS = 0x10
# How long a clean stop waits for the broker to take the retained offline status: well
# inside the 5 s shutdown grace, and a LAN broker answers in milliseconds.
STATUS_ACK_TIMEOUT_S = 2.0
# How long `check_broker` waits for the broker's answer after the TCP connection is up.
CHECK_TIMEOUT_S = 5.0
# A broker sends a topic's retained message right behind its SUBACK; on a LAN it arrives
# within milliseconds, so half a second after the SUBACK means there is none.
RETAINED_SETTLE_S = 0.5

_ACCEPTED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


class BrokerError(RuntimeError):
    """The broker cannot be used: unreachable, TLS failure, or credentials refused."""


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters since start, for logs, the status message and metrics."""

    connected: bool
    connects: int
    disconnects: int
    published: int  # PUBLISH packets handed to paho, resends included
    resent: int  # of those, events this process had published before
    acknowledged: int  # success PUBACKs for events: the broker took them (paces only)
    covered: int  # events central's watermark covered, deleted from the outbox
    rejected: int  # PUBACKs with a failure reason code; those events stay in the outbox
    unrouted: int  # PUBACKs saying nobody was subscribed; those events stay too
    inflight: int
    uncovered: int  # events the broker took that central has not covered yet
    watermark: int  # the highest seq central covers, as last heard (0 before)
    bad_acks: int  # ack messages refused as unreadable or impossible


StatusSource = Callable[[], dict[str, float]]
BatchListener = Callable[[bytes], object]


def make_client(config: MqttConfig, client_id: str) -> mqtt.Client:
    """A paho client for ``config``: MQTT v5, credentials, TLS and reconnect backoff set."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id=client_id, protocol=MQTTProtocolVersion.MQTTv5
    )
    client.enable_logger(logger.getChild("paho"))
    if config.username is not None:
        password = config.password.get_secret_value() if config.password is not None else None
        client.username_pw_set(config.username, password)
    if config.tls:
        ca_file = str(config.tls_ca_file) if config.tls_ca_file is not None else None
        try:
            client.tls_set(ca_certs=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerError(f"mqtt.tls_ca_file {ca_file}: {exc}") from exc
    client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
    client.on_socket_open = _no_delay
    return client


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Send each packet at once (TCP_NODELAY), which paho leaves to the caller.

    With Nagle's algorithm on, a PUBLISH waits for the TCP acknowledgement of the one
    before, which the broker's delayed ACK holds back for 40 ms: measured on a local
    Mosquitto, a PUBACK took 42 ms instead of 1 and a backlog drained six times slower.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError) as exc:  # not a TCP socket (e.g. a unix socket)
        logger.debug("TCP_NODELAY not set: %s", exc)


def check_broker(config: MqttConfig, client_id: str, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Connect once and disconnect: raises :class:`BrokerError` saying why it failed.

    Use a client id other than the running agent's, or the broker disconnects the agent.
    """
    if config.tls:
        _check_tls(config, timeout)
    client = make_client(config, client_id)
    answers: queue.SimpleQueue[ReasonCode] = queue.SimpleQueue()

    def on_connect(
        _client: mqtt.Client, _data: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        answers.put(reason)

    client.on_connect = on_connect
    client.connect_timeout = timeout
    try:
        client.connect(config.host, config.port, config.keepalive, clean_start=True)
    except (OSError, ssl.SSLError) as exc:
        client.loop_stop()
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc
    client.loop_start()
    try:
        reason = answers.get(timeout=timeout)
    except queue.Empty:
        raise BrokerError(
            f"{config.host}:{config.port} accepted TCP but sent no MQTT answer in {timeout:.0f} s"
        ) from None
    finally:
        client.disconnect()
        client.loop_stop()
    if reason.is_failure:
        raise BrokerError(
            f"{config.host}:{config.port} refused user {config.username!r}: {reason} "
            "(check mqtt.username and LINETRACE_EDGE_MQTT__PASSWORD)"
        )


def read_retained(
    config: MqttConfig,
    client_id: str,
    topics: list[str],
    timeout: float = CHECK_TIMEOUT_S,
    settle_s: float = RETAINED_SETTLE_S,
) -> dict[str, bytes]:
    """The retained messages on ``topics`` (absent ones left out), read once and left.

    Raises :class:`BrokerError` when the broker cannot be reached or does not answer.
    """
    client = make_client(config, client_id)
    found: dict[str, bytes] = {}
    subscribed = threading.Event()

    def on_connect(
        client: mqtt.Client, _data: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if not reason.is_failure:
            client.subscribe([(name, 1) for name in topics])

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    def on_message(_client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            found[message.topic] = bytes(message.payload)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect_timeout = timeout
    try:
        client.connect(config.host, config.port, config.keepalive, clean_start=True)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise BrokerError(
                f"{config.host}:{config.port} did not confirm a subscription in {timeout:.0f} s"
            )
        time.sleep(settle_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return dict(found)


def _check_tls(config: MqttConfig, timeout: float) -> None:
    """One TLS handshake of our own, for a precise reason and a socket that is closed.

    Paho leaves its socket to the garbage collector when a handshake fails.
    """
    ca_file = str(config.tls_ca_file) if config.tls_ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=ca_file)
        with (
            socket.create_connection((config.host, config.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=config.host),
        ):
            pass
    except ssl.SSLError as exc:
        raise BrokerError(f"TLS with {config.host}:{config.port} failed: {exc}") from exc
    except OSError as exc:
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc


class Publisher:
    """Drains one station's outbox to the broker; see the module docstring for the rules."""

    def __init__(
        self,
        outbox: Outbox,
        config: MqttConfig,
        *,
        client_id: str,
        tz: tzinfo = UTC,
        max_inflight: int = MAX_INFLIGHT,
        retry_refused_s: float = RETRY_REFUSED_S,
        resend_timeout_s: float = RESEND_TIMEOUT_S,
        status: StatusSource | None = None,
        status_interval_s: float = STATUS_INTERVAL_S,
        on_batch: BatchListener | None = None,
    ) -> None:
        """``status()`` gives the figures of each status message; ``on_batch(payload)``
        gets every message on the station's ``batch`` topic (on paho's thread)."""
        self._outbox = outbox
        self._config = config
        self._tz = tz
        self._max_inflight = max_inflight
        self._retry_refused_s = retry_refused_s
        self._status_source = status
        self._status_interval_s = status_interval_s
        self._on_batch = on_batch
        station = outbox.station
        self._events_topic = topic(station, Channel.EVENTS)
        self._status_topic = topic(station, Channel.STATUS)
        self._ack_topic = topic(station, Channel.ACK)
        self._batch_topic = topic(station, Channel.BATCH)
        self._plan = DeliveryPlan(
            outbox, resend_timeout_s=resend_timeout_s, retry_refused_s=retry_refused_s
        )
        self._client = make_client(config, client_id)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.will_set(self._status_topic, self._status("offline", {}), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._thread = threading.Thread(target=self._drain, name="linetrace-publish", daemon=True)

        # Shared with paho's thread: guarded by _wake.
        self._wake = threading.Condition()
        self._woken = False
        self._connected = False
        self._closing = False
        self._stopping = False
        self._generation = 0
        self._window_limit = max_inflight
        self._acks: list[tuple[int, ReasonCode]] = []
        self._heard_watermark: int | None = None  # newest from the ack topic, not yet applied
        self._connects = 0
        self._disconnects = 0
        self._bad_acks = 0
        self._subscribed_at: float | None = None  # first SUBACK (monotonic)
        self._ready_generation = 0  # the connection the drain thread has taken up
        self._passes = 0  # drain passes finished, so waiters can tell one went by

        # Owned by the drain thread (the counters are read under _wake).
        self._sent: dict[int, int] = {}  # mid -> seq, across connections, until answered
        self._seen_generation = 0
        self._published = 0
        self._resent = 0
        self._acknowledged = 0
        self._covered = 0
        self._rejected = 0
        self._unrouted = 0
        self._inflight = 0
        self._uncovered = 0
        self._watermark = 0
        self._status_at: float | None = None  # when the drain thread last sent the status
        self._refusals_logged: set[tuple[int, str]] = set()  # (connection, kind) logged
        self._refused_watermarks: set[int] = set()

    def start(self) -> None:
        """Connect in the background and start draining; returns at once."""
        logger.info(
            "publishing %s to %s:%d as %s",
            self._events_topic,
            self._config.host,
            self._config.port,
            self._config.username,
        )
        self._client.connect_async(
            self._config.host, self._config.port, self._config.keepalive, clean_start=True
        )
        self._client.loop_start()
        self._thread.start()

    def nudge(self) -> None:
        """Tell the drain thread that new events are in the outbox."""
        with self._wake:
            self._woken = True
            self._wake.notify_all()

    def wait_drained(self, timeout: float) -> bool:
        """Wait until central covers everything stored and the broker has answered every
        publish (its last PUBACK can come after central's watermark); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._wake:
                passes, inflight = self._passes, self._inflight
            if inflight == 0 and self._outbox.depth() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_for_pass(passes, remaining)

    def _wait_for_pass(self, passes: int, timeout: float) -> None:
        with self._wake:
            self._wake.wait_for(lambda: self._passes != passes, timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the broker has accepted the connection and the drain thread has taken
        it up (events stored from then on are live); False on timeout."""
        with self._wake:
            return self._wake.wait_for(
                lambda: self._connected and self._ready_generation == self._generation, timeout
            )

    def stop(self) -> None:
        """Publish the retained offline status, disconnect, and stop the threads.

        Whatever central has not covered stays in the outbox for the next start.
        """
        with self._wake:
            self._closing = True
            connected = self._connected
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        if connected:
            info = self._client.publish(
                self._status_topic, self._status("offline", self._figures()), qos=1, retain=True
            )
            try:
                info.wait_for_publish(STATUS_ACK_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                logger.warning("offline status not delivered: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def subscribed_at(self) -> float | None:
        """When (``time.monotonic``) the broker first confirmed the ack/batch subscription.

        The retained batch, if any, follows right behind that confirmation.
        """
        with self._wake:
            return self._subscribed_at

    @property
    def stats(self) -> PublisherStats:
        with self._wake:
            return PublisherStats(
                connected=self._connected,
                connects=self._connects,
                disconnects=self._disconnects,
                published=self._published,
                resent=self._resent,
                acknowledged=self._acknowledged,
                covered=self._covered,
                rejected=self._rejected,
                unrouted=self._unrouted,
                inflight=self._inflight,
                uncovered=self._uncovered,
                watermark=self._watermark,
                bad_acks=self._bad_acks,
            )

    # -- paho's network thread: note and wake, nothing slow --------------------------------

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
        with self._wake:
            self._connected = True
            self._connects += 1
            self._generation += 1
            # MQTT v5: never have more in flight than the broker says it will take.
            self._window_limit = min(self._max_inflight, receive_maximum or self._max_inflight)
            self._woken = True
            self._wake.notify_all()
        logger.info(
            "connected to %s:%d (window %d)",
            self._config.host,
            self._config.port,
            self._window_limit,
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
        with self._wake:
            was_connected, closing = self._connected, self._closing
            self._connected = False
            if was_connected:
                self._disconnects += 1
            self._woken = True
            self._wake.notify_all()
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
        with self._wake:
            self._acks.append((mid, reason))
            self._woken = True
            self._wake.notify_all()

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reasons: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        with self._wake:
            if self._subscribed_at is None:
                self._subscribed_at = time.monotonic()
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
            self._hear_watermark(payload)

    def _hear_watermark(self, payload: bytes) -> None:
        if not payload:
            return  # a cleared retained ack: nothing covered, nothing to forget
        try:
            watermark = AckWatermark.model_validate_json(payload).seq
        except ValidationError as exc:
            with self._wake:
                self._bad_acks += 1
            logger.error("ack on %s refused: %s", self._ack_topic, exc.errors()[0]["msg"])
            return
        with self._wake:
            if self._heard_watermark is None or watermark > self._heard_watermark:
                self._heard_watermark = watermark
            self._woken = True
            self._wake.notify_all()

    # -- the drain thread: outbox I/O and publishing ---------------------------------------

    def _drain(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._woken or self._stopping, IDLE_WAKE_S)
                self._woken = False
                acks, self._acks = self._acks, []
                heard, self._heard_watermark = self._heard_watermark, None
                stopping, closing = self._stopping, self._closing
                connected, generation, limit = (
                    self._connected,
                    self._generation,
                    self._window_limit,
                )
            self._settle(acks)
            if heard is not None:
                self._apply_watermark(heard)
            if stopping:
                return
            if generation != self._seen_generation and not self._start_connection(generation):
                continue  # the outbox cannot be read; the next pass tries again
            if connected and not closing:
                self._send_status_when_due()
                self._plan.due_again()
                self._fill(limit)
            self._note_plan()

    def _start_connection(self, generation: int) -> bool:
        """A new connection: paho's in-flight copies are not trusted and the broker may have
        lost what it took, so the plan starts both lanes afresh. Old mids stay in _sent for
        late PUBACKs."""
        try:
            self._plan.start_connection()
        except OutboxError as exc:
            logger.error("cannot read the outbox: %s; trying again shortly", exc)
            return False
        self._seen_generation = generation
        self._refusals_logged.clear()
        self._status_at = None
        with self._wake:
            self._ready_generation = generation
            self._wake.notify_all()
        return True

    def _settle(self, acks: list[tuple[int, ReasonCode]]) -> None:
        taken = 0
        for mid, reason in acks:
            seq = self._sent.pop(mid, None)
            if seq is None:
                continue  # a status message
            if reason.is_failure or reason.value == NO_MATCHING_SUBSCRIBERS:
                self._plan.refused(seq)
                self._note_refusal(seq, reason)
            else:
                self._plan.taken(seq)
                taken += 1
        with self._wake:
            self._acknowledged += taken

    def _apply_watermark(self, watermark: int) -> None:
        try:
            last_seq = self._outbox.last_seq
        except OutboxError as exc:
            logger.error("watermark %d not applied yet: %s", watermark, exc)
            with self._wake:
                self._heard_watermark = max(self._heard_watermark or 0, watermark)
            return
        if watermark > last_seq:
            if watermark not in self._refused_watermarks:
                self._refused_watermarks.add(watermark)
                logger.error(
                    "central's watermark %d on %s is beyond this station's last seq %d: the "
                    "outbox was replaced or belongs to another station; nothing is deleted on it",
                    watermark,
                    self._ack_topic,
                    last_seq,
                )
            with self._wake:
                self._bad_acks += 1
            return
        if not self._plan.cover(watermark):
            return
        try:
            removed = self._outbox.remove_through(watermark)
        except OutboxError as exc:
            # Those events stay stored; the next watermark deletes them with its own.
            logger.error("cannot delete events up to seq %d: %s", watermark, exc)
            return
        logger.debug("central covers seq %d: %d events deleted", watermark, removed)
        with self._wake:
            self._covered += removed
            self._watermark = watermark

    def _note_refusal(self, seq: int, reason: ReasonCode) -> None:
        unrouted = reason.value == NO_MATCHING_SUBSCRIBERS
        with self._wake:
            if unrouted:
                self._unrouted += 1
            else:
                self._rejected += 1
            key = (self._generation, "unrouted" if unrouted else "rejected")
        if key in self._refusals_logged:
            logger.debug("broker refused event seq %d: %s", seq, reason)
            return
        self._refusals_logged.add(key)
        why = "nobody is subscribed (is central running?)" if unrouted else f"refused: {reason}"
        logger.error(
            "broker did not take event seq %d on %s, %s; it stays in the outbox and is "
            "offered again every %.0f s (further cases on this connection are only counted)",
            seq,
            self._events_topic,
            why,
            self._retry_refused_s,
        )

    def _fill(self, limit: int) -> None:
        try:
            outgoing = self._plan.next(limit)
        except OutboxError as exc:
            logger.error("cannot read the outbox: %s; trying again shortly", exc)
            return
        for position, event in enumerate(outgoing):
            info = self._client.publish(self._events_topic, event.payload, qos=1)
            if info.rc not in _ACCEPTED:
                logger.error(
                    "paho refused event seq %d: %s; trying again shortly",
                    event.seq,
                    mqtt.error_string(info.rc),
                )
                for unsent in outgoing[position:]:
                    self._plan.lost(unsent.seq)
                return
            self._sent[info.mid] = event.seq
            with self._wake:
                self._published += 1
                self._resent += event.resend

    def _note_plan(self) -> None:
        with self._wake:
            self._inflight = self._plan.inflight
            self._uncovered = self._plan.uncovered
            self._passes += 1  # wait_drained() re-checks the depth
            self._wake.notify_all()

    def _send_status_when_due(self) -> None:
        now = time.monotonic()
        if self._status_at is not None and now - self._status_at < self._status_interval_s:
            return
        self._status_at = now
        self._client.publish(
            self._status_topic, self._status("online", self._figures()), qos=1, retain=True
        )

    def _figures(self) -> dict[str, float]:
        return self._status_source() if self._status_source is not None else {}

    def _status(self, state: Literal["online", "offline"], figures: dict[str, float]) -> bytes:
        return StationStatus(state=state, at=datetime.now(self._tz), metrics=figures).to_payload()
