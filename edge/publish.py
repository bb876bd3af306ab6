"""Delivering the outbox to the broker: MQTT v5, QoS 1, in ``seq`` order, nothing lost.

Three threads meet here, and none waits on another for long:

* the agent's loop only appends to the outbox and calls :meth:`Publisher.nudge`;
* paho's network thread (``loop_start``) connects, reconnects with backoff, keeps the link
  alive and reads PUBACKs; its callbacks only note what happened and wake the drain thread;
* the drain thread reads the outbox, publishes, and deletes what the broker acknowledged, so
  disk I/O never stalls the network thread.

Delivery rule: an event leaves the outbox only after a PUBACK that says the broker routed
it. A PUBACK with a failure code (e.g. 135, not authorised) or with 16 (no matching
subscribers: the broker dropped it) is counted and logged, and the event stays, offered
again after ``retry_refused_s`` or on the next connection. Paho's own queue is never
trusted with an event: after every (re)connect the drain thread starts again from the
oldest stored event, so what was in flight when a link or the process died goes out again.

Known limitations:

* After a reconnect an event that was in flight can reach the broker twice (paho retries its
  in-flight messages, and the outbox is resent); at most ``max_inflight`` events per
  reconnect. Central is idempotent on ``event_id``, so this costs bandwidth, not correctness.
* The broker's PUBACK means the broker has the event, not that central stored it. Deleting
  on central's ``ack`` watermark instead only changes :meth:`Publisher._settle`.
* The retained ``offline`` last will carries the time the connection was made, because a will
  is fixed before anyone knows when the link will die.
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
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from typing import Any, Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode, MQTTProtocolVersion
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode

from linetrace.broker.events import StationStatus
from linetrace.broker.topics import Channel, topic
from linetrace.edge.config import MqttConfig
from linetrace.edge.outbox import Outbox, OutboxError

__all__ = ["BrokerError", "Publisher", "PublisherStats", "check_broker", "make_client"]

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
# MQTT v5 PUBACK reason 0x10: the broker took the message and dropped it, as nobody was
# subscribed (central down without its persistent session). Success to MQTT, loss to us.
NO_MATCHING_SUBSCRIBERS = 0x10
# How long a clean stop waits for the broker to take the retained offline status: well
# inside the 5 s shutdown grace, and a LAN broker answers in milliseconds.
STATUS_ACK_TIMEOUT_S = 2.0
# How long `check_broker` waits for the broker's answer after the TCP connection is up.
CHECK_TIMEOUT_S = 5.0

_ACCEPTED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)


class BrokerError(RuntimeError):
    """The broker cannot be used: unreachable, TLS failure, or credentials refused."""


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters since start, for logs and (later) the status message and metrics."""

    connected: bool
    connects: int
    disconnects: int
    published: int  # PUBLISH packets handed to paho, resends included
    resent: int  # of those, events this process had published before (after a reconnect)
    acknowledged: int  # success PUBACKs for events (a resent event can be counted twice)
    rejected: int  # PUBACKs with a failure reason code; those events stay in the outbox
    unrouted: int  # PUBACKs saying nobody was subscribed; those events stay too
    inflight: int


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
    return client


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
    ) -> None:
        self._outbox = outbox
        self._retry_refused_s = retry_refused_s
        self._config = config
        self._tz = tz
        self._max_inflight = max_inflight
        self._events_topic = topic(outbox.station, Channel.EVENTS)
        self._status_topic = topic(outbox.station, Channel.STATUS)
        self._client = make_client(config, client_id)
        self._client.max_inflight_messages_set(max_inflight)
        self._client.will_set(self._status_topic, self._status("offline"), qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_connect_fail = self._on_connect_fail
        self._client.on_disconnect = self._on_disconnect
        self._client.on_publish = self._on_publish
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
        self._connects = 0
        self._disconnects = 0
        self._passes = 0  # drain passes finished, so waiters can tell one went by

        # Owned by the drain thread.
        self._sent: dict[int, int] = {}  # mid -> seq, across connections, until answered
        self._window: set[int] = set()  # mids of this connection awaiting a PUBACK
        self._cursor = 0  # highest seq published on this connection
        self._seen_generation = 0
        self._highest_sent = 0
        self._published = 0
        self._resent = 0
        self._acknowledged = 0
        self._rejected = 0
        self._unrouted = 0
        self._refused_since: float | None = None  # first refusal not yet offered again
        self._refusal_streak = 0  # answers in a row that were refusals
        self._refusals_logged: set[tuple[int, str]] = set()  # (connection, kind) logged

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
        """Wait until the outbox is empty; False when ``timeout`` seconds pass first."""
        deadline = time.monotonic() + timeout
        while True:
            with self._wake:
                passes = self._passes
            if self._outbox.depth() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_for_pass(passes, remaining)

    def _wait_for_pass(self, passes: int, timeout: float) -> None:
        with self._wake:
            self._wake.wait_for(lambda: self._passes != passes, timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the broker has accepted the connection; False on timeout."""
        with self._wake:
            return self._wake.wait_for(lambda: self._connected, timeout)

    def stop(self) -> None:
        """Publish the retained offline status, disconnect, and stop the threads.

        Whatever is unacknowledged stays in the outbox for the next start.
        """
        with self._wake:
            self._closing = True
            connected = self._connected
        if connected:
            info = self._client.publish(
                self._status_topic, self._status("offline"), qos=1, retain=True
            )
            try:
                info.wait_for_publish(STATUS_ACK_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                logger.warning("offline status not delivered: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()
        with self._wake:
            self._stopping = True
            self._wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()

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
                rejected=self._rejected,
                unrouted=self._unrouted,
                inflight=len(self._window),
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
        # Retained state is re-published on every connect, so a fresh broker knows it too.
        client.publish(self._status_topic, self._status("online"), qos=1, retain=True)
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

    # -- the drain thread: outbox I/O and publishing ---------------------------------------

    def _drain(self) -> None:
        while True:
            with self._wake:
                self._wake.wait_for(lambda: self._woken or self._stopping, IDLE_WAKE_S)
                self._woken = False
                acks, self._acks = self._acks, []
                stopping, closing = self._stopping, self._closing
                connected, generation, limit = (
                    self._connected,
                    self._generation,
                    self._window_limit,
                )
            self._settle(acks)
            if stopping:
                return
            if generation != self._seen_generation:
                # A new connection: paho's in-flight copies are not trusted; start over
                # from the oldest stored event. Old mids stay in _sent for late PUBACKs.
                self._seen_generation = generation
                self._window.clear()
                self._cursor = 0
                self._refused_since = None
                self._refusal_streak = 0
            if connected and not closing:
                self._offer_refused_again()
                self._fill(limit)
            with self._wake:
                self._passes += 1  # wait_drained() re-checks the depth
                self._wake.notify_all()

    def _settle(self, acks: list[tuple[int, ReasonCode]]) -> None:
        confirmed: list[int] = []
        for mid, reason in acks:
            seq = self._sent.pop(mid, None)
            if seq is None:
                continue  # a status message
            self._window.discard(mid)
            if reason.is_failure or reason.value == NO_MATCHING_SUBSCRIBERS:
                self._refusal_streak += 1
                self._note_refusal(seq, reason)
            else:
                self._refusal_streak = 0
                confirmed.append(seq)
        if not confirmed:
            return
        with self._wake:
            self._acknowledged += len(confirmed)
        try:
            self._outbox.remove(confirmed)
        except OutboxError as exc:
            # They stay stored; treating them like refusals sends them again later, and
            # central drops the duplicates by event_id.
            logger.error("cannot delete %d delivered events: %s", len(confirmed), exc)
            if self._refused_since is None:
                self._refused_since = time.monotonic()

    def _note_refusal(self, seq: int, reason: ReasonCode) -> None:
        unrouted = reason.value == NO_MATCHING_SUBSCRIBERS
        with self._wake:
            if unrouted:
                self._unrouted += 1
            else:
                self._rejected += 1
            key = (self._generation, "unrouted" if unrouted else "rejected")
        if self._refused_since is None:
            self._refused_since = time.monotonic()
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

    def _offer_refused_again(self) -> None:
        """Once nothing is in flight, rewind to resend what the broker did not take.

        With nothing in flight, every stored event at or below the cursor is one the broker
        refused (or one whose deletion failed), so rewinding resends exactly those, in seq
        order, and no duplicates.
        """
        if self._refused_since is None or self._sent:
            return
        if time.monotonic() - self._refused_since >= self._retry_refused_s:
            self._refused_since = None
            self._refusal_streak = 0
            self._cursor = 0

    def _fill(self, limit: int) -> None:
        if self._refusal_streak >= limit:
            return  # the broker refuses the station wholesale; wait for the next retry
        room = limit - len(self._window)
        if room <= 0:
            return
        try:
            stored = self._outbox.pending(room, after=self._cursor)
        except OutboxError as exc:
            logger.error("cannot read the outbox: %s; trying again shortly", exc)
            return
        for seq, payload in stored:
            info = self._client.publish(self._events_topic, payload, qos=1)
            if info.rc not in _ACCEPTED:
                logger.error("paho refused event seq %d: %s", seq, mqtt.error_string(info.rc))
                return
            self._sent[info.mid] = seq
            self._window.add(info.mid)
            self._cursor = seq
            with self._wake:
                self._published += 1
                if seq <= self._highest_sent:
                    self._resent += 1
            self._highest_sent = max(self._highest_sent, seq)

    def _status(self, state: Literal["online", "offline"]) -> bytes:
        return StationStatus(state=state, at=datetime.now(self._tz)).to_payload()
