"""Taking scan events off the broker into the database, acknowledging only what is committed.

Two threads: paho's network thread puts each message, unacknowledged, on a bounded
queue; the writer thread drains the queue in batches (by size, or after a few
milliseconds), commits each batch in one transaction and only then acknowledges its
messages to the broker (MQTT v5 manual acknowledgement). A crash anywhere before the
commit leaves the messages unacknowledged in the broker's session for this client, which
hands them out again on reconnect; the store's idempotent insert absorbs the repeats.

The queue is bounded by the broker: the client announces ``max_in_flight`` as its MQTT
Receive Maximum, and the broker stops sending once that many messages are
unacknowledged. A QoS 1 message is never dropped here, since a dropped one would only
come back on the next connection: Mosquitto 2.0.11 does not keep to Receive Maximum once
acknowledgements flow (its quota bug, fixed in 2.0.12), and then the broker's own queue
limit (``max_queued_messages``) bounds what it sends instead. Only QoS 0 messages, which
the broker never counts, are dropped (and counted) beyond ``max_in_flight`` plus a
headroom.

Known limitations:

- Acknowledgements refer to packet ids of one connection. Messages received before a
  reconnect are committed but not acknowledged on the new connection (an id there may
  name another message); the broker resends them, and they are counted as duplicates.
- A message that arrives while the service is stopping is left unacknowledged for the
  next start of the same client id (or, after ``session_expiry_s``, for the edge's resend).
- SQLite allows one central instance; several instances splitting the shared
  subscription need PostgreSQL.
- With several instances, two watermarks of one station committed a moment apart may
  reach the broker in the opposite order, leaving the lower one retained. Every instance
  re-reads the watermarks every ``SWEEP_EVERY_S`` and publishes any that differ from what
  it last published, so the retained value catches up within seconds; an edge treats the
  watermark as monotonic and ignores a lower one meanwhile.

After each commit the writer publishes the stations' new watermarks, retained, on their
``ack`` topics (the edge deletes what they cover). It republishes all of them after every
(re)connect, and every few seconds it also raises or clears ``seq_gap``, ``dead_letters`` and ``seq_reused``
alarms.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTErrorCode
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.reasoncodes import ReasonCode
from paho.mqtt.subscribeoptions import SubscribeOptions
from sqlalchemy.engine import Engine

from linetrace.broker.events import AckWatermark
from linetrace.broker.topics import SHARED_GROUP, Channel, StationId, subscription, topic
from linetrace.central.batch import (
    BatchOptions,
    BatchResult,
    Inbound,
    StoreUnavailable,
    write_batch,
)
from linetrace.central.config import CentralSettings
from linetrace.central.deadletteralarms import sweep_dead_letter_alarms
from linetrace.central.gapalarms import sweep_gap_alarms
from linetrace.central.progress import all_progress
from linetrace.central.seqreuse import sweep_seq_reuse_alarms
from linetrace.central.stats import IngestCounters, IngestStats

__all__ = ["EVENTS_SUBSCRIPTION", "CommitListener", "Ingest"]

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
# How often the writer re-reads the watermarks (publishing those another instance or a
# replay moved) and sweeps the gap alarms: a few seconds is nothing against a gap alarm
# threshold of a minute, and one small query per station table every few seconds is
# nothing for the database.
SWEEP_EVERY_S = 2.0
# QoS 0 messages are not counted against Receive Maximum; room for a few batches of them
# beyond it before they are dropped and counted.
QOS0_HEADROOM = 1000


CommitListener = Callable[[Sequence[Inbound], BatchResult], None]
"""Told of each committed batch: the messages as received, and what became of them."""


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
        # Unbounded: QoS 1 messages are bounded by the broker (see the module docstring),
        # QoS 0 ones by the check in _on_message.
        self._queue: queue.Queue[_Received] = queue.Queue()
        self._qos0_limit = settings.ingest.max_in_flight + QOS0_HEADROOM
        self._over_receive_maximum_logged = False
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._closing = False
        # Counts connections; guards acknowledgements against ids of an earlier one.
        self._connection = 0
        self._connection_lock = threading.Lock()
        self._subscribed = threading.Event()
        # Set on every connect: the writer then republishes every watermark.
        self._republish = threading.Event()
        # Called after every connect, for other state central publishes (batch announcements).
        self._connect_listeners: list[Callable[[], None]] = []
        self._commit_listeners: list[CommitListener] = []
        # The watermark this instance last published per station; the writer's alone.
        self._published: dict[StationId, int] = {}
        self._options = BatchOptions(auto_register=settings.ingest.auto_register_stations)
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

    def publish_retained(self, topic_name: str, payload: bytes) -> bool:
        """Publish a retained QoS 1 message on central's connection; False while disconnected.

        Nothing is queued while disconnected: the caller re-publishes its state from a
        connect listener, so an old queued message cannot overwrite a newer one.
        """
        if not self.connected:
            return False
        info = self._client.publish(topic_name, payload, qos=1, retain=True)
        return info.rc is MQTTErrorCode.MQTT_ERR_SUCCESS

    def add_connect_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every (re)connect, in the network thread: keep it short."""
        self._connect_listeners.append(listener)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` with every committed batch and its result (metrics, benchmarks).

        It runs on the writer thread after the commit: a slow listener slows the ingest.
        """
        self._commit_listeners.append(listener)

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
        self._republish.set()
        for listener in self._connect_listeners:
            listener()

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
        self._counters.count_received()
        received = _Received(
            Inbound(message.topic, bytes(message.payload), datetime.now(UTC)),
            message.mid,
            message.qos,
            self._connection,
        )
        depth = self._queue.qsize()
        if message.qos == 0 and depth >= self._qos0_limit:
            self._counters.add(dropped=1)
            log.warning("ingest queue full; dropped a QoS 0 message on %s", message.topic)
            return
        if depth > self._settings.ingest.max_in_flight and not self._over_receive_maximum_logged:
            self._over_receive_maximum_logged = True
            log.warning(
                "the broker sent more than Receive Maximum (%s) unacknowledged messages; "
                "queueing them anyway (a known Mosquitto 2.0.11 quota bug)",
                self._settings.ingest.max_in_flight,
            )
        self._queue.put_nowait(received)

    # -- database side (the writer thread) ------------------------------------------------

    def _write_loop(self) -> None:
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        next_sweep = time.monotonic()
        last_summary = self._counters.snapshot()
        while True:
            batch = self._next_batch()
            if batch:
                result = self._write_until_stored(batch)
                if result is None:
                    return
                self._acknowledge(batch)
                self._publish_watermarks(result.watermarks)
                self._count(result, len(batch))
                for listener in self._commit_listeners:
                    listener([item.inbound for item in batch], result)
            elif self._stopping.is_set():
                return
            reconnected = self._republish.is_set() and self.connected
            if reconnected or time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_S
                self._sweep()
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
                return write_batch(self._engine, [item.inbound for item in batch], self._options)
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

    def _publish_watermarks(self, watermarks: dict[StationId, int]) -> None:
        """Publish each station's watermark, retained, on its ``ack`` topic (QoS 1)."""
        if not self.connected:
            return  # the next connect republishes every watermark
        now = datetime.now(UTC)
        for station, seq in sorted(watermarks.items()):
            if seq < 1 or self._published.get(station, -1) >= seq:
                continue
            payload = AckWatermark(seq=seq, at=now).to_payload()
            if self.publish_retained(topic(station, Channel.ACK), payload):
                self._published[station] = seq
                self._counters.add(acks_published=1)

    def _sweep(self) -> None:
        """Publish watermarks moved elsewhere (or all, after a connect); sweep gap alarms."""
        if self._republish.is_set() and self.connected:
            self._republish.clear()
            self._published.clear()
        gap_after = timedelta(seconds=self._settings.ingest.seq_gap_alarm_after_s)
        try:
            with self._engine.begin() as connection:
                progress = all_progress(connection)
                now = datetime.now(UTC)
                sweep_gap_alarms(connection, now, gap_after)
                ingest = self._settings.ingest
                sweep_dead_letter_alarms(
                    connection,
                    now,
                    threshold=ingest.dead_letter_alarm_threshold,
                    window=timedelta(seconds=ingest.dead_letter_alarm_window_s),
                )
                sweep_seq_reuse_alarms(
                    connection, now, timedelta(seconds=ingest.seq_reuse_alarm_clear_after_s)
                )
        except sa.exc.SQLAlchemyError as exc:
            log.warning("watermark and gap sweep failed: %s", _first_line(exc))
            return
        moved = {
            station: p.watermark
            for station, p in progress.items()
            if self._published.get(station) != p.watermark
        }
        # Publishing a lower value than this instance last did would move the retained
        # watermark back; only a reconnect (which cleared _published) re-sends everything.
        self._publish_watermarks(moved)

    def _count(self, result: BatchResult, size: int) -> None:
        self._counters.add(
            stored=result.stored,
            duplicates=result.duplicates,
            dead_lettered=len(result.dead_letters),
            conflicts=result.conflicts,
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


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
