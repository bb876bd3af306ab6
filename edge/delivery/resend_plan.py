"""What the publisher sends next, and what central's watermark lets it forget.

The bookkeeping behind :class:`~linetrace.edge.delivery.publisher.Publisher`, kept free of MQTT so
each rule can be tested by itself. Per connection, stored events fall into two lanes:

* **live**: events stored after the connection was made (``seq > floor``), sent in
  ``seq`` order as soon as they are stored, with the whole in-flight window open to them;
* **backlog**: everything older that central has not yet covered, sent oldest first but
  holding at most :data:`BACKLOG_SHARE` of the window, so after an outage the passages
  happening now reach central first and the hours behind them drain alongside.

An event leaves the picture only when central's ``ack`` watermark covers its ``seq``.
The broker's PUBACK only frees its window slot and starts its clock: an event the broker
took but central has not covered within ``resend_timeout_s`` is queued again (same
bytes, same ``event_id``) at the head of the backlog lane. A new connection starts both
lanes afresh, so whatever the last one had sent but central had not covered goes out
again at once: a broker that restarted empty may have lost it.

An event the broker refuses (a failure PUBACK, or "no matching subscribers") is offered
again ``retry_refused_s`` after the first refusal that is still waiting; when a whole
window is refused in a row the broker is refusing the station, not an event, and sending
pauses until that retry. An event refused only because nobody was subscribed is offered
again at once when central shows it is subscribed again (:meth:`DeliveryPlan.subscriber_back`):
waiting out the retry would stall the watermark after every routine broker restart.
"""

from __future__ import annotations

import heapq
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

from linetrace.edge.delivery.outbox import Outbox, OutboxError

__all__ = ["BACKLOG_SHARE", "MAX_UNCOVERED", "DeliveryPlan", "Lane", "Outgoing"]

logger = logging.getLogger(__name__)

# The backlog's share of the in-flight window. Half leaves the live lane at least 50
# slots of the default 100, dozens of times what a line produces in one round trip, so
# new passages never queue behind old ones, while the backlog still drains at half the
# link's pace: a 7-hour backlog of 500 000 events clears in minutes on a LAN.
BACKLOG_SHARE = 0.5
# The backlog lane pauses while this many events the broker took are still uncovered by
# central: it bounds the memory of the bookkeeping and the duplicates a resend timeout can
# cause, and lets central's commit rate, not the link's, pace a large backlog. 10 000 is
# several seconds of a central committing thousands of events per second.
MAX_UNCOVERED = 10_000


class Lane(StrEnum):
    LIVE = "live"
    BACKLOG = "backlog"


@dataclass(frozen=True, slots=True)
class Outgoing:
    """One stored event to publish now."""

    seq: int
    payload: bytes
    lane: Lane
    resend: bool  # this process published it before


class DeliveryPlan:
    """The drain thread's bookkeeping (not thread-safe: one thread owns it)."""

    def __init__(
        self,
        outbox: Outbox,
        *,
        resend_timeout_s: float,
        retry_refused_s: float,
        backlog_share: float = BACKLOG_SHARE,
        max_uncovered: int = MAX_UNCOVERED,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not 0.0 < backlog_share <= 1.0:
            raise ValueError(f"backlog_share must be in (0, 1], got {backlog_share}")
        self._outbox = outbox
        self._resend_timeout_s = resend_timeout_s
        self._retry_refused_s = retry_refused_s
        self._backlog_share = backlog_share
        self._max_uncovered = max_uncovered
        self._clock = clock
        self.watermark = 0  # highest seq central has covered, as far as we know
        self._floor = 0  # live lane: seq > floor
        self._live_cursor = 0
        self._backlog_cursor = 0
        self._inflight: dict[int, Lane] = {}  # seq -> lane, on this connection
        self._taken: dict[int, float] = {}  # seq -> when the broker took it; oldest first
        self._again: list[int] = []  # heap of seqs to send again, oldest first
        self._queued_again: set[int] = set()
        self._refused: dict[int, float] = {}  # seq -> when refused, waiting for the retry
        self._unrouted: set[int] = set()  # of those, refused as "no matching subscribers"
        self._sent_before: set[int] = set()  # sent on an earlier connection, not covered
        self._refusal_streak = 0

    # -- connections ------------------------------------------------------------------------

    def start_connection(self) -> None:
        """A new connection: nothing of the last one is trusted; both lanes start afresh."""
        self._sent_before |= self._inflight.keys() | self._taken.keys() | self._refused.keys()
        self._sent_before |= self._queued_again
        self._inflight.clear()
        self._taken.clear()
        self._again.clear()
        self._queued_again.clear()
        self._refused.clear()
        self._unrouted.clear()
        self._refusal_streak = 0
        self._floor = self._outbox.last_seq
        self._live_cursor = self._floor
        self._backlog_cursor = self.watermark

    # -- what to send -----------------------------------------------------------------------

    def next(self, window: int) -> list[Outgoing]:
        """Events to publish now, with ``window`` slots in all; live ones first.

        Raises :class:`OutboxError` when the outbox cannot be read; nothing is lost then.
        """
        if self._refusal_streak >= window:
            return []  # the broker refuses the station wholesale; wait for the retry
        outgoing = self._live(window - len(self._inflight))
        backlog_room = min(
            window - len(self._inflight) - len(outgoing),
            max(1, int(window * self._backlog_share)) - self._in_lane(Lane.BACKLOG),
        )
        if len(self._taken) < self._max_uncovered:
            try:
                outgoing += self._backlog(backlog_room)
            except OutboxError as exc:  # the live events are out of the outbox already
                logger.error("cannot read the backlog: %s; trying again shortly", exc)
        for event in outgoing:
            self._inflight[event.seq] = event.lane
            self._sent_before.discard(event.seq)
        return outgoing

    def _live(self, room: int) -> list[Outgoing]:
        if room <= 0:
            return []
        stored = self._outbox.pending(room, after=self._live_cursor)
        if stored:
            self._live_cursor = stored[-1][0]
        return [
            Outgoing(seq, payload, Lane.LIVE, seq in self._sent_before) for seq, payload in stored
        ]

    def _backlog(self, room: int) -> list[Outgoing]:
        if room <= 0:
            return []
        outgoing = self._again_due(room)
        room -= len(outgoing)
        if room > 0 and self._backlog_cursor < self._floor:
            stored = self._outbox.pending(room, after=self._backlog_cursor, through=self._floor)
            self._backlog_cursor = stored[-1][0] if stored else self._floor
            outgoing += [
                Outgoing(seq, payload, Lane.BACKLOG, seq in self._sent_before)
                for seq, payload in stored
            ]
        return outgoing

    def _again_due(self, room: int) -> list[Outgoing]:
        seqs: list[int] = []
        while self._again and len(seqs) < room:
            seq = heapq.heappop(self._again)
            self._queued_again.discard(seq)
            if seq > self.watermark and seq not in self._inflight:
                seqs.append(seq)
        try:
            stored = self._outbox.fetch(seqs)
        except OutboxError:
            for seq in seqs:
                self._queue_again(seq)  # still due: the next pass tries again
            raise
        return [Outgoing(seq, payload, Lane.BACKLOG, True) for seq, payload in stored]

    def _in_lane(self, lane: Lane) -> int:
        return sum(1 for held in self._inflight.values() if held is lane)

    # -- answers ----------------------------------------------------------------------------

    def taken(self, seq: int) -> None:
        """The broker took ``seq`` (a success PUBACK): its resend clock starts."""
        self._refusal_streak = 0
        if self._inflight.pop(seq, None) is not None and seq > self.watermark:
            self._taken[seq] = self._clock()

    def refused(self, seq: int, *, unrouted: bool = False) -> None:
        """The broker did not take ``seq``: offer it again after the refusal retry, or
        (``unrouted``: nobody was subscribed) as soon as :meth:`subscriber_back` says so."""
        self._refusal_streak += 1
        if self._inflight.pop(seq, None) is not None and seq > self.watermark:
            self._refused.setdefault(seq, self._clock())
            if unrouted:
                self._unrouted.add(seq)

    def lost(self, seq: int) -> None:
        """``seq`` never left (paho refused it): free its slot and send it again soon."""
        if self._inflight.pop(seq, None) is not None:
            self._queue_again(seq)

    def cover(self, watermark: int) -> bool:
        """Central covers every seq up to ``watermark``; False when it is no news."""
        if watermark <= self.watermark:
            return False
        self.watermark = watermark
        for book in (self._taken, self._refused):
            for seq in [seq for seq in book if seq <= watermark]:
                del book[seq]
        self._unrouted = {seq for seq in self._unrouted if seq > watermark}
        self._sent_before = {seq for seq in self._sent_before if seq > watermark}
        self._backlog_cursor = max(self._backlog_cursor, min(watermark, self._floor))
        return True

    def due_again(self) -> int:
        """Queue what timed out uncovered, and refusals whose retry came; returns how many."""
        now = self._clock()
        queued = 0
        while self._taken:
            seq, taken_at = next(iter(self._taken.items()))
            if now - taken_at < self._resend_timeout_s:
                break
            del self._taken[seq]
            self._queue_again(seq)
            queued += 1
        if self._refused and now - min(self._refused.values()) >= self._retry_refused_s:
            for seq in self._refused:
                self._queue_again(seq)
            queued += len(self._refused)
            self._refused.clear()
            self._unrouted.clear()
            self._refusal_streak = 0
        return queued

    def subscriber_back(self) -> int:
        """Central is subscribed again: queue what was refused for want of a subscriber
        now, ahead of its retry; returns how many. Refusals for other reasons (an ACL)
        keep their retry: central's return does not fix them."""
        if not self._unrouted:
            return 0
        for seq in sorted(self._unrouted):
            del self._refused[seq]
            self._queue_again(seq)
        queued = len(self._unrouted)
        self._unrouted.clear()
        self._refusal_streak = 0
        return queued

    def _queue_again(self, seq: int) -> None:
        if seq > self.watermark and seq not in self._queued_again:
            self._queued_again.add(seq)
            heapq.heappush(self._again, seq)

    # -- figures ----------------------------------------------------------------------------

    @property
    def inflight(self) -> int:
        return len(self._inflight)

    @property
    def uncovered(self) -> int:
        """Events the broker took that central has not covered yet."""
        return len(self._taken)
