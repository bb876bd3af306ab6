"""Taking scan events off the broker into the database, acknowledging only what is committed.

Two processes. The receiver child (:mod:`linetrace.central.ingest.receiver`, supervised by
:mod:`linetrace.central.ingest.supervisor`) holds central's only MQTT connection: it subscribes,
batches what arrives (by size, or after ``flush_interval_ms``) and sends each batch to
this process over a pipe, without acknowledging anything. Here the writer thread commits
each batch in one transaction and only then sends the batch's packet ids back; the child
acknowledges them to the broker (MQTT v5 manual acknowledgement) if they came on its
current connection. A crash anywhere before the commit leaves the messages
unacknowledged in the broker's session for this client, which hands them out again on
reconnect; the store's idempotent insert absorbs the repeats.

Why two processes: receiving and acknowledging (paho's packet and MQTT v5 property
parsing, one PUBACK per message) cost about 40 µs of CPU per event, validating and
inserting about twice that, and in one process both waited on one GIL (every PUBACK
queued behind a commit). Split, each side can have a core; the pipe costs about a
microsecond per event (one pickled tuple of plain values, sent in batches).

The queue here is bounded by the broker: the child announces ``max_in_flight`` as its
MQTT Receive Maximum, and the broker stops sending once that many messages are
unacknowledged. A QoS 1 message is never dropped, since a dropped one would only come
back on the next connection: Mosquitto 2.0.11 does not keep to Receive Maximum once
acknowledgements flow (its quota bug, fixed in 2.0.12), and then the broker's own queue
limit (``max_queued_messages``) bounds what it sends instead. Only QoS 0 messages, which
the broker never counts, are dropped (and counted, by the child) beyond ``max_in_flight``
plus a headroom.

Retained publications (the stations' watermarks, batch announcements) go through the
child's connection too, so central holds one connection; :meth:`Ingest.publish_retained`
refuses while disconnected, and the connect listeners republish after every reconnect.

Supervision: a child that dies is started again after a backoff (counted as
``receiver_restarts``); what it had forwarded is committed but cannot be acknowledged on
the new connection, so the broker resends it and it is counted as duplicates. If this
process dies, the child sees its pipe close and exits without acknowledging more; if the
writer thread dies, no acknowledgement is sent again. :meth:`Ingest.stop` has the child
stop forwarding, commits and acknowledges everything forwarded, then stops the child.

Known limitations:

- Acknowledgements refer to packet ids of one connection. Messages received before a
  reconnect (or a receiver restart) are committed but not acknowledged on the new
  connection (an id there may name another message; the child refuses them and counts
  them as ``stale_acks``); the broker resends them, and they are counted as duplicates.
- A message that arrives while the service is stopping is left unacknowledged for the
  next start of the same client id (or, after ``session_expiry_s``, for the edge's resend).
- Starting the receiver takes a fresh interpreter (a second or so on a busy machine),
  at every start and after every death of the child; events wait in the broker meanwhile.
- ``publish_retained`` returns True once the request is on its way to the child; if the
  connection drops in that moment the publication is lost, and the next connect
  republishes the state.
- SQLite allows one central instance; several instances splitting the shared
  subscription need PostgreSQL.
- With several instances, two watermarks of one station committed a moment apart may
  reach the broker in the opposite order, leaving the lower one retained. Every instance
  re-reads the watermarks every ``SWEEP_EVERY_S`` and publishes any that differ from what
  it last published, so the retained value catches up within seconds; an edge treats the
  watermark as monotonic and ignores a lower one meanwhile.

After each commit the writer publishes the stations' new watermarks, retained, on their
``ack`` topics (the edge deletes what they cover). It republishes all of them after every
(re)connect, and every few seconds it also raises or clears ``seq_gap``, ``dead_letters``
and ``seq_reused`` alarms.

The child also subscribes to every station's retained ``status`` (plainly, at QoS 0: see
:mod:`linetrace.central.ingest.statuses`); the writer takes those messages apart from the
events, after them, and raises or clears the stations' own alarms from them.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TypeVar

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.backoff import Backoff
from linetrace.broker.contract.topics import SHARED_GROUP, Channel, subscription
from linetrace.central.config import CentralSettings
from linetrace.central.derive.alarm_sweeper import AlarmSweeper
from linetrace.central.derive.progress import all_progress
from linetrace.central.ingest.handover import Handover
from linetrace.central.ingest.receiver import Received, ReceiverConfig, ReceiverCounts, State
from linetrace.central.ingest.stats import IngestCounters, IngestStats, log_summary
from linetrace.central.ingest.statuses import (
    STATUS_QOS,
    STATUS_SUBSCRIPTION,
    StatusResult,
    is_status_topic,
    write_statuses,
)
from linetrace.central.ingest.supervisor import ReceiverEvents, ReceiverProcess
from linetrace.central.ingest.watermarks import WatermarkPublisher
from linetrace.central.ingest.write_batch import (
    BatchOptions,
    BatchResult,
    Inbound,
    StoreUnavailable,
    write_batch,
)
from linetrace.central.store import DeadLetter

__all__ = ["EVENTS_SUBSCRIPTION", "CommitListener", "Ingest"]

log = logging.getLogger(__name__)

EVENTS_SUBSCRIPTION = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)

# Retrying a database that is down: doubling from half a second, because a failed
# commit is often a single dropped connection that the pool replaces at once.
STORE_RETRY_MIN_S = 0.5
STORE_RETRY_MAX_S = 30.0
# How often the writer wakes without messages to notice a stop request.
IDLE_POLL_S = 0.1
# A one-line summary of the counters at most this often, when they changed.
SUMMARY_EVERY_S = 60.0
# How often the writer re-reads the watermarks (publishing those another instance or a
# replay moved): one small query per station table every few seconds is nothing. The
# alarm sweeps run apart, on their own thread (derive/alarm_sweeper.py).
SWEEP_EVERY_S = 2.0


CommitListener = Callable[[Sequence[Inbound], BatchResult], None]
"""Told of each committed batch: the events as received, and what became of them."""

_Written = TypeVar("_Written")


class Ingest:
    """The batch writer of the central service, and the parent of its MQTT receiver."""

    def __init__(self, settings: CentralSettings, engine: Engine) -> None:
        self._settings = settings
        self._engine = engine
        self._handover = Handover(settings.ingest.batch_size)
        self._counters = IngestCounters()
        self._stopping = threading.Event()
        self._closing = False
        self._connected = threading.Event()
        self._subscribed = threading.Event()
        # Set on every connect: the writer then republishes every watermark.
        self._republish = threading.Event()
        # Called after every connect, for other state central publishes (batch announcements).
        self._connect_listeners: list[Callable[[], None]] = []
        self._commit_listeners: list[CommitListener] = []
        # The stations' ack watermarks; the writer's alone.
        self._watermarks = WatermarkPublisher(
            self.publish_retained, lambda: self.connected, self._counters
        )
        self._options = BatchOptions(
            auto_register=settings.ingest.auto_register_stations,
            relay_targets=tuple(target.name for target in settings.relay.targets),
        )
        self._receiver = ReceiverProcess(
            self._receiver_config,
            ReceiverEvents(
                on_batch=self._on_batch,
                on_state=self._on_state,
                on_counts=self._counters.receiver_counts,
                on_child_gone=self._on_child_gone,
            ),
        )
        self._writer = threading.Thread(target=self._write_loop, name="central-ingest-writer")
        self._sweeper = AlarmSweeper(engine, settings.ingest)
        self._started = False

    @property
    def connected(self) -> bool:
        return self._connected.is_set()

    @property
    def subscribed(self) -> bool:
        """True once the broker granted the events subscription on the current connection."""
        return self._subscribed.is_set() and self.connected

    @property
    def receiver_pid(self) -> int | None:
        """The receiver process's id while it runs (benchmarks add its CPU time)."""
        return self._receiver.pid

    def publish_retained(self, topic_name: str, payload: bytes) -> bool:
        """Publish a retained QoS 1 message on central's connection; False while disconnected.

        Nothing is queued while disconnected: the caller re-publishes its state from a
        connect listener, so an old queued message cannot overwrite a newer one.
        """
        if not self.connected:
            return False
        return self._receiver.send(("publish", topic_name, payload))

    def add_connect_listener(self, listener: Callable[[], None]) -> None:
        """Call ``listener`` after every (re)connect, in the receiver thread: keep it short."""
        self._connect_listeners.append(listener)

    def add_commit_listener(self, listener: CommitListener) -> None:
        """Call ``listener`` with every committed batch and its result (metrics, benchmarks).

        It runs on the writer thread after the commit: a slow listener slows the ingest.
        """
        self._commit_listeners.append(listener)

    @property
    def counters(self) -> IngestCounters:
        """The live counters and distributions (read by ``/metrics``)."""
        return self._counters

    def stats(self) -> IngestStats:
        """The counters now, with the live connection state."""
        return self._counters.snapshot(
            connected=self.connected, subscribed=self.subscribed, writing=self._writer.is_alive()
        )

    def start(self) -> None:
        """Start the receiver (it connects in the background, retrying) and the writer."""
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
        self._receiver.start()
        self._sweeper.start()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop taking messages, commit and acknowledge what was received, then disconnect."""
        if not self._started:
            return
        self._closing = True
        self._sweeper.stop(timeout)
        if not self._receiver.drain(timeout):
            log.warning("the receiver did not hand over its last batch in %.1f s", timeout)
        self._stopping.set()
        self._writer.join(timeout)
        if self._writer.is_alive():
            log.warning("ingest writer still busy after %.1f s; leaving its batch unacked", timeout)
        self._receiver.stop(timeout)
        log.info("ingest stopped: %s", self.stats().as_dict())

    # -- from the receiver (its thread) -----------------------------------------------------

    def _receiver_config(self, incarnation: int) -> ReceiverConfig:
        ingest = self._settings.ingest
        return ReceiverConfig(
            mqtt=self._settings.mqtt,
            subscription=EVENTS_SUBSCRIPTION,
            max_in_flight=ingest.max_in_flight,
            batch_size=ingest.batch_size,
            flush_interval_s=ingest.flush_interval_ms / 1000,
            incarnation=incarnation,
            also=((STATUS_SUBSCRIPTION, STATUS_QOS),),
        )

    def _on_batch(self, items: list[Received], counts: ReceiverCounts) -> None:
        self._counters.add(queued=len(items))
        self._counters.receiver_counts(counts)
        self._handover.put(items)

    def _on_state(self, state: State, _generation: int) -> None:
        if state is State.CONNECTED:
            self._subscribed.clear()
            self._connected.set()
            self._republish.set()
            for listener in self._connect_listeners:
                listener()
        elif state is State.SUBSCRIBED:
            self._subscribed.set()
        else:
            self._connected.clear()
            self._subscribed.clear()

    def _on_child_gone(self) -> None:
        self._connected.clear()
        self._subscribed.clear()
        self._counters.receiver_ended()
        if not self._closing:
            self._counters.add(receiver_restarts=1)

    # -- database side (the writer thread) ------------------------------------------------

    def _write_loop(self) -> None:
        # A failure here (a commit listener's, say) ends the writer: nothing more is
        # committed, so nothing more is acknowledged, and the broker keeps the rest.
        try:
            self._write_until_stopped()
        except Exception:
            log.exception("the ingest writer failed; nothing more is committed or acknowledged")

    def _write_until_stopped(self) -> None:
        next_summary = time.monotonic() + SUMMARY_EVERY_S
        next_sweep = time.monotonic()
        last_summary = self._counters.snapshot()
        while True:
            batch = self._handover.next_batch(IDLE_POLL_S)
            if batch:
                taken = time.perf_counter()
                inbound = [
                    Inbound(item.topic, item.payload, datetime.fromtimestamp(item.received_at, UTC))
                    for item in batch
                ]
                statuses_in = [message for message in inbound if is_status_topic(message.topic)]
                if statuses_in:
                    inbound = [m for m in inbound if not is_status_topic(m.topic)]
                result = (
                    self._write_until_stored(
                        partial(write_batch, self._engine, inbound, self._options), len(inbound)
                    )
                    if inbound
                    else BatchResult()
                )
                statuses = (
                    self._write_until_stored(
                        partial(write_statuses, self._engine, statuses_in, self._options),
                        len(statuses_in),
                    )
                    if statuses_in
                    else StatusResult()
                )
                if result is None or statuses is None:
                    return
                seconds = time.perf_counter() - taken
                self._acknowledge(batch)
                self._counters.add(queued=-len(batch))
                self._watermarks.publish(result.watermarks)
                self._count(result, len(batch), seconds)
                self._count_statuses(statuses)
                for listener in self._commit_listeners:
                    listener(inbound, result)
            elif self._stopping.is_set():
                return
            reconnected = self._republish.is_set() and self.connected
            if reconnected or time.monotonic() >= next_sweep:
                next_sweep = time.monotonic() + SWEEP_EVERY_S
                self._sweep()
            if time.monotonic() >= next_summary:
                next_summary = time.monotonic() + SUMMARY_EVERY_S
                summary = self.stats()
                log_summary(summary, last_summary)
                last_summary = summary

    def _write_until_stored(self, write: Callable[[], _Written], size: int) -> _Written | None:
        """Write ``size`` messages, retrying while the database is down; None if stopped
        meanwhile."""
        backoff = Backoff(STORE_RETRY_MIN_S, STORE_RETRY_MAX_S)
        while True:
            try:
                result = write()
            except StoreUnavailable as exc:
                self._counters.add(store_failures=1)
                self._counters.set(store_error=str(exc))
                if self._stopping.is_set():
                    log.error(
                        "database unavailable while stopping (%s); %s messages stay "
                        "unacknowledged for the next start",
                        exc,
                        size,
                    )
                    return None
                delay = backoff.next_delay()
                log.error("database unavailable (%s); retrying in %.1f s", exc, delay)
            except Exception as exc:
                # Not expected: write_batch dead-letters whatever one message causes. Keep
                # the writer (and the batch, unacknowledged) alive and try again.
                self._counters.add(store_failures=1)
                self._counters.set(store_error=f"writing a batch failed: {_first_line(exc)}")
                if self._stopping.is_set():
                    log.exception("writing a batch failed while stopping; left unacknowledged")
                    return None
                delay = backoff.next_delay()
                log.exception("writing a batch failed; retrying in %.1f s", delay)
            else:
                self._counters.set(store_error=None)
                return result
            # A stop request during the wait leaves one more try before giving up, then
            # the branch above returns.
            self._stopping.wait(delay)

    def _acknowledge(self, batch: list[Received]) -> None:
        """Send the committed batch's packet ids to the receiver, which acknowledges them."""
        acks = [(item.generation, item.mid, item.qos) for item in batch if item.qos > 0]
        if not self._receiver.send(("ack", len(batch), acks)):
            log.debug("receiver gone; %s committed messages come again as duplicates", len(acks))

    def _sweep(self) -> None:
        """Publish watermarks moved elsewhere (or all, after a connect)."""
        if self._republish.is_set() and self.connected:
            self._republish.clear()
            self._watermarks.forget()
        try:
            with self._engine.begin() as connection:
                progress = all_progress(connection)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("watermark sweep failed: %s", _first_line(exc))
            return
        self._watermarks.publish_moved(progress)

    def _count_statuses(self, statuses: StatusResult) -> None:
        self._count_dead_letters(statuses.dead_letters)

    def _count(self, result: BatchResult, size: int, seconds: float) -> None:
        committed_at = datetime.now(UTC)
        self._counters.add(
            stored=result.stored,
            duplicates=result.duplicates,
            conflicts=result.conflicts,
            images_stored=result.images_stored,
            images_refused=result.images_refused,
        )
        self._counters.set(last_commit_at=committed_at)
        self._counters.batch_seconds.observe((seconds,))
        self._counters.lag_seconds.observe(
            (committed_at - observed).total_seconds() for observed in result.observed_at
        )
        self._count_dead_letters(result.dead_letters)
        log.debug(
            "batch of %s: %s stored, %s duplicates, %s dead letters",
            size,
            result.stored,
            result.duplicates,
            len(result.dead_letters),
        )

    def _count_dead_letters(self, letters: Sequence[DeadLetter]) -> None:
        if letters:
            self._counters.add(dead_lettered=len(letters))
            self._counters.add_dead_letters(letter.reason for letter in letters)
        for letter in letters:
            log.warning("dead letter from %s: %s", letter.topic, letter.reason)


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    return (str(original).strip().splitlines() or [type(original).__name__])[0]
