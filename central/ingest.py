"""Taking scan events off the broker into the database, acknowledging only what is committed.

Two threads: paho's network thread puts each message, unacknowledged, on a bounded
queue; the writer thread drains the queue in batches (by size, or after a few
milliseconds), commits each batch in one transaction and only then acknowledges its
messages to the broker (MQTT v5 manual acknowledgement). A crash anywhere before the
commit leaves the messages unacknowledged in the broker's session for this client, which
hands them out again on reconnect; the store's idempotent insert absorbs the repeats.

The queue cannot overflow: the client announces the queue's size as its MQTT Receive
Maximum, and the broker stops sending once that many messages are unacknowledged.

Known limitations:

- Acknowledgements refer to packet ids of one connection. Messages received before a
  reconnect are committed but not acknowledged on the new connection (an id there may
  name another message); the broker resends them, and they are counted as duplicates.
- A message that arrives while the service is stopping is left unacknowledged for the
  next start of the same client id (or, after ``session_expiry_s``, for the edge's resend).
- SQLite allows one central instance; several instances splitting the shared
  subscription need PostgreSQL.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.engine import Engine

from linetrace.broker.topics import SHARED_GROUP, Channel, subscription
from linetrace.central.batch import BatchResult, Inbound, StoreUnavailable, write_batch
from linetrace.central.config import CentralSettings
from linetrace.central.stats import IngestCounters, IngestStats

__all__ = ["EVENTS_SUBSCRIPTION", "Ingest"]

log = logging.getLogger(__name__)

EVENTS_SUBSCRIPTION = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)

# Reconnect after 1 s, doubling to 30 s: quick after a broker restart, and a broker that
# is down for long gets one attempt every half minute rather than a storm.
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30
# The same doubling for a database that is down, shorter at the start because a failed
# commit is often a single dropped connection that the pool replaces at once.
STORE_RETRY_MIN_S = 0.5
STORE_RETRY_MAX_S = 30.0
# How often the writer wakes without messages to notice a stop request.
IDLE_POLL_S = 0.1
# A one-line summary of the counters at most this often, when they changed.
SUMMARY_EVERY_S = 60.0
# Messages beyond Receive Maximum can only be QoS 0 (the broker does not count those);
# room for a few batches of them before they are dropped and counted.
QOS0_HEADROOM = 1000


@dataclass(frozen=True, slots=True)
class _Received:
    """A message waiting for its commit, with what acknowledging it needs."""

    inbound: Inbound
    mid: int
    qos: int
    connection: int


class Ingest:
    """The MQTT consumer and batch writer of the central service."""

    def __init__(self, settings: CentralSettings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
        self._queue: queue.Queue[_Received] = queue.Queue(
            settings.ingest.max_in_flight + QOS0_HEADROOM
        )
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._closing = False
        # Counts connections; guards acknowledgements against ids of an earlier one.
        self._connection = 0
        self._connection_lock = threading.Lock()
        self._subscribed = threading.Event()
        self._client = self._make_client()
        self._writer = threading.Thread(target=self._write_loop, name="central-ingest-writer")
        self._started = False

    @property
    def connected(self) -> bool:
        return self._client.is_connected()

    @property
    def subscribed(self) -> bool:
        """True once the broker granted the events subscription on the current connection."""
        return self._subscribed.is_set() and self.connected

    def stats(self) -> IngestStats:
        """The counters now, with the live queue depth and connection state."""
        return self._counters.snapshot(
            queued=self._queue.qsize(), connected=self.connected, subscribed=self.subscribed
        )

    def start(self) -> None:
        """Connect (in the background, retrying) and start the writer."""
        if self._started:
            raise RuntimeError("ingest already started")
        self._started = True
        mqtt_settings = self._settings.mqtt
        log.info(
            "ingest connecting to %s:%s as %s, subscribing to %s",
            mqtt_settings.host,
            mqtt_settings.port,
            mqtt_settings.client_id,
            EVENTS_SUBSCRIPTION,
        )
        self._writer.start()
        self._client.connect_async(
            mqtt_settings.host,
            mqtt_settings.port,
            keepalive=mqtt_settings.keepalive_s,
            clean_start=False,
            properties=self._connect_properties(),
        )
        self._client.loop_start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, commit and acknowledge what is queued, then disconnect."""
        if not self._started:
            return
        self._closing = True
        self._stopping.set()
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.warning("ingest writer still busy after %.1f s; leaving its batch unacked", timeout)
        self._client.disconnect()
        self._client.loop_stop()
        log.info("ingest stopped: %s", self.stats().as_dict())

    # -- MQTT side (paho's network thread) ------------------------------------------------

    def _make_client(self) -> mqtt.Client:
        mqtt_settings = self._settings.mqtt
        client = mqtt.Client(
            callback_api_version=CallbackAPIVersion.VERSION2,
            client_id=mqtt_settings.client_id,
            protocol=mqtt.MQTTv5,
            manual_ack=True,
        )
        if mqtt_settings.username is not None:
            password = mqtt_settings.password
            client.username_pw_set(
                mqtt_settings.username, password.get_secret_value() if password else None
            )
        if mqtt_settings.tls_ca is not None:
            client.tls_set(ca_certs=str(mqtt_settings.tls_ca))
        client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
        client.on_connect = self._on_connect
        client.on_connect_fail = self._on_connect_fail
        client.on_disconnect = self._on_disconnect
        client.on_subscribe = self._on_subscribe
        client.on_message = self._on_message
        return client

    def _connect_properties(self) -> Properties:
        properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
        properties.SessionExpiryInterval = self._settings.mqtt.session_expiry_s
        properties.ReceiveMaximum = self._settings.ingest.max_in_flight
        return properties

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
        with self._connection_lock:
            self._connection += 1
        log.info("connected to the broker (session resumed: %s)", flags.session_present)
        # Subscribing here, not once after connect, so that every reconnect resubscribes.
        client.subscribe(EVENTS_SUBSCRIPTION, options=SubscribeOptions(qos=1))

    def _on_connect_fail(self, _client: mqtt.Client, _userdata: Any) -> None:
        log.warning(
            "cannot reach the broker at %s:%s; retrying",
            self._settings.mqtt.host,
            self._settings.mqtt.port,
        )

    def _on_disconnect(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _flags: mqtt.DisconnectFlags,
        reason_code: ReasonCode,
        _properties: Properties | None,
    ) -> None:
        with self._connection_lock:
            self._connection += 1
        self._subscribed.clear()
        if not self._closing:
            log.warning("lost the broker (%s); reconnecting", reason_code)

    def _on_subscribe(
        self,
        _client: mqtt.Client,
        _userdata: Any,
        _mid: int,
        reason_codes: list[ReasonCode],
        _properties: Properties | None,
    ) -> None:
        refused = [code for code in reason_codes if code.is_failure]
        if refused:
            log.error("broker refused the subscription to %s: %s", EVENTS_SUBSCRIPTION, refused)
            return
        self._subscribed.set()

    def _on_message(self, _client: mqtt.Client, _userdata: Any, message: mqtt.MQTTMessage) -> None:
        if self._closing:
            return  # unacknowledged: the broker hands it to this session again
        self._counters.add(received=1)
        received = _Received(
            Inbound(message.topic, bytes(message.payload), datetime.now(UTC)),
            message.mid,
            message.qos,
            self._connection,
        )
        try:
            self._queue.put_nowait(received)
        except queue.Full:
            self._counters.add(dropped=1)
            log.warning(
                "ingest queue full; dropped a QoS %s message on %s", message.qos, message.topic
            )

    # -- database side (the writer thread) ------------------------------------------------

    def _write_loop(self) -> None:
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        last_summary = self._counters.snapshot()
        while True:
            batch = self._next_batch()
            if not batch:
                if self._stopping.is_set():
                    return
                continue
            result = self._write_until_stored(batch)
            if result is None:
                return
            self._acknowledge(batch)
            self._count(result, len(batch))
            if time.monotonic() >= next_summary:
                next_summary = time.monotonic() + SUMMARY_EVERY_S
                last_summary = self._log_summary(last_summary)

    def _next_batch(self) -> list[_Received]:
        """Up to batch_size messages: the first waits, the rest at most flush_interval."""
        try:
            first = self._queue.get(timeout=IDLE_POLL_S)
        except queue.Empty:
            return []
        batch = [first]
        deadline = time.monotonic() + self._settings.ingest.flush_interval_ms / 1000
        while len(batch) < self._settings.ingest.batch_size:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                break
            try:
                batch.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                break
        return batch

    def _write_until_stored(self, batch: list[_Received]) -> BatchResult | None:
        """Write the batch, retrying while the database is down; None if stopped meanwhile."""
        delay = STORE_RETRY_MIN_S
        while True:
            try:
                return write_batch(self._engine, [item.inbound for item in batch])
            except StoreUnavailable as exc:
                self._counters.add(store_failures=1)
                if self._stopping.is_set():
                    log.error(
                        "database unavailable while stopping (%s); %s messages stay "
                        "unacknowledged for the next start",
                        exc,
                        len(batch),
                    )
                    return None
                log.error("database unavailable (%s); retrying in %.1f s", exc, delay)
            if self._stopping.wait(delay):
                continue  # one more try before giving up, then the branch above returns
            delay = min(delay * 2, STORE_RETRY_MAX_S)

    def _acknowledge(self, batch: list[_Received]) -> None:
        with self._connection_lock:
            for item in batch:
                if item.qos == 0 or item.connection != self._connection:
                    continue
                code = self._client.ack(item.mid, item.qos)
                if code is not MQTTErrorCode.MQTT_ERR_SUCCESS:
                    log.debug("ack of message %s not sent: %s", item.mid, code)

    def _count(self, result: BatchResult, size: int) -> None:
        self._counters.add(
            stored=result.stored,
            duplicates=result.duplicates,
            dead_lettered=len(result.dead_letters),
        )
        self._counters.set(last_commit_at=datetime.now(UTC))
        for letter in result.dead_letters:
            log.warning("dead letter from %s: %s", letter.topic, letter.reason)
        log.debug(
            "batch of %s: %s stored, %s duplicates, %s dead letters",
            size,
            result.stored,
            result.duplicates,
            len(result.dead_letters),
        )

    def _log_summary(self, previous: IngestStats) -> IngestStats:
        now = self.stats()
        if (now.received, now.dead_lettered) != (previous.received, previous.dead_lettered):
            log.info(
                "ingest: %s received, %s stored, %s duplicates, %s dead letters, %s queued",
                now.received,
                now.stored,
                now.duplicates,
                now.dead_lettered,
                now.queued,
            )
        return now
