"""The relay worker: per target, claim due events, build documents, deliver, mark each event.

One :class:`TargetWorker` per target, each on its own thread (a target that is down
must not hold up another). A round:

1. claim up to the target's limit times its concurrency (a half-open breaker: one
   document's worth, as a probe);
2. map the stored events to EPCIS 2.0 (a retraction: an ErrorDeclaration of the
   original, same eventID); an event that cannot be mapped is rejected with the reason;
3. events whose eventID the target's ledger already holds are accepted without a send;
   events sent before whose answer was lost (``sent``) are looked up at the target
   when the adapter can (:class:`~.targets.base.Reconciling`): held ones are accepted;
4. the rest are marked ``sent`` (committed before the send, so a crash leaves them in
   doubt, never forgotten), split into documents within the target's limits, and
   delivered, ``concurrency`` documents at a time;
5. each event is marked as the target said: accepted (and into the ledger), rejected
   with the target's reason (never blocking the others), or released for a retry after
   an exponential backoff with jitter (at least the ``Retry-After`` asked for).

The breaker (:mod:`.breaker`) stops claiming for a target that fails as a whole.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy.engine import Connection, Engine

from linetrace.backoff import Backoff
from linetrace.central.relay import queue
from linetrace.central.relay.breaker import Breaker
from linetrace.central.relay.queue import Claimed
from linetrace.central.relay.settings import RelaySettings, TargetSettings
from linetrace.central.relay.status import record_health
from linetrace.central.relay.targets.base import Outcome, Outgoing, Reconciling, Target

__all__ = ["Mapper", "TargetWorker"]

log = logging.getLogger(__name__)

# Spread of each event's retry time: events that failed together come back spread out.
RETRY_JITTER = 0.2

Mapper = Callable[[Connection, Sequence[Claimed]], tuple[dict[int, Outgoing], dict[int, str]]]
"""Builds each claimed row's :class:`Outgoing` (by row id), and the reason per row that
cannot be built."""


@dataclass
class _Round:
    """What one round decided, row by row."""

    accepted: list[Claimed] = field(default_factory=list)
    rejected: dict[int, str] = field(default_factory=dict)
    retry: dict[int, tuple[float, bool]] = field(default_factory=dict)
    error: str | None = None
    answered: bool = False  # the target answered for some event: it is up
    failed: bool = False  # some send failed as a whole
    retry_after_s: float | None = None


class TargetWorker:
    """Delivers one target's queue; :meth:`step` is one round, :meth:`run` loops."""

    def __init__(
        self,
        engine: Engine,
        relay: RelaySettings,
        settings: TargetSettings,
        target: Target,
        worker_id: str,
        mapper: Mapper | None = None,
    ) -> None:
        self.name = settings.name
        self._engine = engine
        self._relay = relay
        self._settings = settings
        self._target = target
        self._worker_id = worker_id
        self._mapper = mapper or _default_mapper()
        bind = getattr(target, "bind", None)
        if callable(bind):  # an adapter that reads central's database (vn-portal's master data)
            bind(engine)
        self.breaker = Breaker(relay.breaker_failures, relay.breaker_open_s, relay.retry_max_s)
        self._pool = ThreadPoolExecutor(
            settings.concurrency, thread_name_prefix=f"relay-{self.name}"
        )
        self.sent_documents = 0

    def close(self) -> None:
        self._pool.shutdown(wait=True)
        close = getattr(self._target, "close", None)
        if callable(close):
            close()

    def run(self, stop: threading.Event) -> None:
        """Rounds until ``stop`` is set; idle or with the breaker open, wait between them."""
        failures = Backoff(
            self._relay.retry_initial_s, self._relay.retry_max_s, jitter=RETRY_JITTER
        )
        idle_s = self._relay.poll_interval_ms / 1000
        while not stop.is_set():
            try:
                handled = self.step()
                failures.reset()
            except Exception:  # a fault here must not end the relay
                log.exception("relay to %s failed; trying again", self.name)
                stop.wait(failures.next_delay())
                continue
            if not handled:
                stop.wait(max(idle_s, min(self.breaker.wait_s(time.monotonic()), idle_s * 10)))

    def step(self) -> int:
        """One round; the number of queue rows it handled (0: nothing due, or breaker open)."""
        if not self.breaker.allows(time.monotonic()):
            return 0
        max_events, max_bytes = self._target.limits()
        limit = max_events if self.breaker.probing else max_events * self._settings.concurrency
        with self._engine.begin() as connection:
            rows = queue.claim(
                connection, self.name, self._worker_id, limit, _now(), self._relay.lease_s
            )
        if rows:
            self._handle(rows, max_events, max_bytes)
        return len(rows)

    # -- one round ----------------------------------------------------------------------

    def _handle(self, rows: list[Claimed], max_events: int, max_bytes: int) -> None:
        done = _Round()
        with self._engine.connect() as connection:
            outgoing, unmappable = self._mapper(connection, rows)
            done.rejected.update(unmappable)
            held = self._already_held(connection, rows, outgoing, done)
        by_id = {row.id: row for row in rows}
        to_send = [by_id[i] for i in outgoing if i not in held and i not in done.retry]
        firsts, twins = _twins(to_send, outgoing)
        with self._engine.begin() as connection:
            done_now = _now()
            queue.mark_accepted(
                connection, self.name, [by_id[i] for i in held],
                {i: outgoing[i].epcis_event_id for i in held}, self._worker_id, done_now,
            )  # fmt: skip
            queue.mark_rejected(connection, done.rejected, self._worker_id, done_now)
            queue.mark_retry(connection, done.retry, done.error, self._worker_id, done_now)
            queue.mark_sent(
                connection, {row.id: outgoing[row.id].epcis_event_id for row in to_send},
                self._worker_id, done_now,
            )  # fmt: skip
        # A failed lookup of events in doubt counts as a failed send for the breaker.
        done = _Round(answered=bool(held), failed=done.failed, error=done.error)
        documents = self._documents(firsts, outgoing, max_events, max_bytes)
        for rows_sent, outcome in zip(
            documents,
            self._pool.map(self._deliver, [[outgoing[r.id] for r in d] for d in documents]),
            strict=True,
        ):
            self._judge(rows_sent, outcome, done)
        for first_id, others in twins.items():
            self._follow(first_id, others, done)
        self._finish(rows, outgoing, done)

    def _already_held(
        self,
        connection: Connection,
        rows: Sequence[Claimed],
        outgoing: dict[int, Outgoing],
        done: _Round,
    ) -> set[int]:
        """Rows the target has already: in its ledger, or (in doubt) found at the target."""
        held: set[int] = set()
        for action in {row.action for row in rows}:
            mine = [row for row in rows if row.action == action and row.id in outgoing]
            known = queue.in_ledger(
                connection, self.name, action, (outgoing[row.id].epcis_event_id for row in mine)
            )
            held |= {row.id for row in mine if outgoing[row.id].epcis_event_id in known}
        doubtful = [
            row for row in rows
            if row.in_doubt and row.action == "capture" and row.id in outgoing and row.id not in held
        ]  # fmt: skip
        if doubtful and isinstance(self._target, Reconciling):
            try:
                found = self._target.already_captured([outgoing[row.id] for row in doubtful])
            except Exception as exc:  # noqa: BLE001  (any failure: ask again next time)
                error = f"cannot ask {self.name} what it holds: {exc}"
                for row in doubtful:
                    done.retry[row.id] = (self._delay(row, None), True)
                done.error, done.failed = error, True
                return held
            held |= {row.id for row in doubtful if row.event_id in found}
            log.info(
                "%s: %s of %s events in doubt were held already",
                self.name,
                len(found),
                len(doubtful),
            )
        return held

    def _documents(
        self, rows: list[Claimed], outgoing: dict[int, Outgoing], max_events: int, max_bytes: int
    ) -> list[list[Claimed]]:
        """Rows in documents within the limits; captures and retractions apart."""
        documents: list[list[Claimed]] = []
        for action in ("capture", "retract"):
            mine = [row for row in rows if row.action == action]
            if not mine:
                continue
            by_event = {row.event_id: row for row in mine}
            for part in _split([outgoing[row.id] for row in mine], max_events, max_bytes):
                documents.append([by_event[event.source_event_id] for event in part])
        return documents

    def _deliver(self, events: list[Outgoing]) -> Outcome:
        try:
            return self._target.deliver(events)
        except Exception as exc:  # an adapter's bug must not lose events
            log.exception("%s: delivering %s events failed", self.name, len(events))
            return Outcome.all_retry(events, f"{type(exc).__name__}: {exc}", in_doubt=True)

    def _judge(self, rows: list[Claimed], outcome: Outcome, done: _Round) -> None:
        self.sent_documents += 1
        by_event = {row.event_id: row for row in rows}
        for event_id in outcome.accepted:
            if event_id in by_event:
                done.accepted.append(by_event[event_id])
        for event_id, reason in outcome.rejected.items():
            if event_id in by_event:
                done.rejected[by_event[event_id].id] = reason
        settled = set(outcome.accepted) | set(outcome.rejected)
        # An event the adapter did not speak of is retried, never dropped.
        for row in rows:
            if row.event_id not in settled:
                in_doubt = outcome.in_doubt or row.in_doubt
                done.retry[row.id] = (self._delay(row, outcome.retry_after_s), in_doubt)
        if settled:
            done.answered = True
        if outcome.retry or len(settled) < len(rows):
            done.error = outcome.error or done.error or "the target did not say"
            if not settled:
                done.failed = True
            if outcome.retry_after_s is not None:
                done.retry_after_s = max(done.retry_after_s or 0.0, outcome.retry_after_s)

    def _follow(self, first_id: int, twins: list[Claimed], done: _Round) -> None:
        """Rows with the same eventID as one sent go the way it went."""
        if any(row.id == first_id for row in done.accepted):
            done.accepted += twins
        elif first_id in done.rejected:
            done.rejected.update({row.id: done.rejected[first_id] for row in twins})
        else:
            delay, in_doubt = done.retry.get(first_id, (self._relay.retry_initial_s, True))
            done.retry.update({row.id: (delay, in_doubt) for row in twins})

    def _finish(self, rows: list[Claimed], outgoing: dict[int, Outgoing], done: _Round) -> None:
        now_m = time.monotonic()
        if done.answered or not done.failed:
            self.breaker.success()
        else:
            self.breaker.failure(now_m, done.retry_after_s)
        with self._engine.begin() as connection:
            now = _now()
            queue.mark_accepted(
                connection, self.name, done.accepted,
                {row.id: outgoing[row.id].epcis_event_id for row in done.accepted},
                self._worker_id, now,
            )  # fmt: skip
            queue.mark_rejected(connection, done.rejected, self._worker_id, now)
            queue.mark_retry(connection, done.retry, done.error, self._worker_id, now)
            record_health(
                connection, self.name, breaker=str(self.breaker.state),
                consecutive_failures=self.breaker.consecutive_failures,
                error=done.error if done.failed else None,
                success=done.answered, details=self._target_health(), now=now,
            )  # fmt: skip
        if done.rejected:
            log.warning("%s rejected %s events (first: %s)", self.name, len(done.rejected),
                        next(iter(done.rejected.values())))  # fmt: skip

    def _target_health(self) -> dict[str, object]:
        try:
            return self._target.health()
        except Exception as exc:  # noqa: BLE001  (health is informative only)
            return {"error": str(exc)}

    def _delay(self, row: Claimed, retry_after_s: float | None) -> float:
        backoff = Backoff(self._relay.retry_initial_s, self._relay.retry_max_s, jitter=RETRY_JITTER)
        backoff.attempts = row.attempts
        return max(backoff.next_delay(), retry_after_s or 0.0)


def _twins(
    rows: list[Claimed], outgoing: dict[int, Outgoing]
) -> tuple[list[Claimed], dict[int, list[Claimed]]]:
    """The first row of each (action, eventID), and the later rows with the same one."""
    first: dict[tuple[str, str], Claimed] = {}
    twins: dict[int, list[Claimed]] = {}
    for row in rows:
        key = (row.action, outgoing[row.id].epcis_event_id)
        if key in first:
            twins.setdefault(first[key].id, []).append(row)
        else:
            first[key] = row
    return list(first.values()), twins


def _split(events: list[Outgoing], max_events: int, max_bytes: int) -> list[list[Outgoing]]:
    from linetrace.central.relay.epcis.documents import split

    return [list(part) for part in split(events, max_events, max_bytes)]  # type: ignore[arg-type]


def _default_mapper() -> Mapper:
    from linetrace.central.relay.outgoing import map_claimed

    return map_claimed


def _now() -> datetime:
    return datetime.now(UTC)
