"""One tail of the database per app, fanned out to every open live stream.

In: new events (and station state and open-alarm changes) read by one poller from the
database, whichever replica's ingest stored them. Out: messages on each subscriber's
bounded queue, filtered to what it asked for and may see.

Why a poller and not the ingest's own hand-off: the ingest may run in another replica
(or not at all, an API-only central), and one query per look for all clients costs the
same with one browser or a hundred. Why bounded queues that drop: a stalled browser
(a tab in the background, a tablet out of Wi-Fi) must never hold memory without end nor
slow the poller, the ingest or the other clients; what it misses is counted
(:attr:`LiveHub.dropped`, exported in ``/metrics``) and it is told to refresh.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection, Engine

from linetrace.central.query.dashboard import STALE_AFTER
from linetrace.central.query.live_tail import TailCursor, tail
from linetrace.central.store.tables import alarms, station_status

__all__ = [
    "POLL_S",
    "QUEUE_SIZE",
    "LiveCollector",
    "LiveHub",
    "Message",
    "Subscriber",
    "Wanted",
    "hub_of",
]

log = logging.getLogger(__name__)

# A look every half second keeps an event's way from broker to page well under 2 s
# (ingest batch + commit + this + the browser), at one small indexed query per look.
POLL_S = 0.5
# A few looks of a busy plant (1,000 events/s) for one client: room for bursts, small
# enough that a stalled browser costs a few MB before it is dropped from.
QUEUE_SIZE = 2048


@dataclass(frozen=True, slots=True)
class Message:
    """One SSE message: its event type and JSON data."""

    type: str  # scan, status, alarms, dropped
    data: dict[str, Any]
    site: str | None = None
    line: str | None = None
    station: str | None = None


@dataclass(frozen=True, slots=True)
class Wanted:
    """What one client asked for; None matches everything."""

    site: str | None = None
    line: str | None = None
    station: str | None = None
    sees: Callable[[str, str], bool] | None = None  # the principal's scope

    def matches(self, message: Message) -> bool:
        if message.site is None or message.line is None:
            return True
        if self.sees is not None and not self.sees(message.site, message.line):
            return False
        return all(
            want is None or want == got
            for want, got in (
                (self.site, message.site),
                (self.line, message.line),
                (self.station, message.station),
            )
        )


@dataclass(eq=False, slots=True)
class Subscriber:
    """One open stream: its bounded queue and what it missed."""

    wanted: Wanted
    queue_size: int = QUEUE_SIZE
    queue: asyncio.Queue[Message] = field(init=False)
    dropped: int = 0  # missed since the last ``dropped`` notice

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.queue_size)

    def offer(self, message: Message) -> bool:
        """Queue ``message``; False (and counted) when the queue is full."""
        try:
            self.queue.put_nowait(message)
        except asyncio.QueueFull:
            self.dropped += 1
            return False
        return True

    def take_dropped(self) -> int:
        count, self.dropped = self.dropped, 0
        return count


@dataclass(slots=True)
class _Seen:
    """What the previous look found, to send only changes."""

    states: dict[tuple[str, str, str], str] = field(default_factory=dict)
    alarms: dict[str, int] = field(default_factory=dict)


class LiveHub:
    """The app's one poller and its subscribers; runs while somebody listens."""

    def __init__(
        self, engine: Engine, poll_s: float = POLL_S, queue_size: int = QUEUE_SIZE
    ) -> None:
        self._engine = engine
        self._poll_s = poll_s
        self._queue_size = queue_size
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._cursor = TailCursor()
        self._seen = _Seen()
        self.dropped = 0  # messages dropped for slow clients, since start
        self.delivered = 0
        self.overflow = 0  # events past one look's bound, not streamed

    @property
    def clients(self) -> int:
        return len(self._subscribers)

    def subscribe(self, wanted: Wanted) -> Subscriber:
        subscriber = Subscriber(wanted, self._queue_size)
        self._subscribers.add(subscriber)
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._run(), name="live-hub")
        return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _run(self) -> None:
        # A fresh start: what is stored from now on (and the few seconds of overlap).
        self._cursor = TailCursor(since=datetime.now(UTC))
        while self._subscribers:
            try:
                messages = await asyncio.to_thread(self._look)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("live stream: the database look failed: %s", str(exc).splitlines()[0])
                messages = []
            self.publish(messages)
            await asyncio.sleep(self._poll_s)

    def publish(self, messages: list[Message]) -> None:
        """Offer each message to every subscriber that wants it (never waits)."""
        for message in messages:
            for subscriber in list(self._subscribers):
                if not subscriber.wanted.matches(message):
                    continue
                if subscriber.offer(message):
                    self.delivered += 1
                else:
                    self.dropped += 1

    def _look(self) -> list[Message]:
        now = datetime.now(UTC)
        with self._engine.connect() as conn:
            result = tail(conn, self._cursor, now)
            messages = [_scan(event) for event in result.events]
            messages += self._state_changes(conn, now)
            messages += self._alarm_changes(conn)
        if result.overflow:
            self.overflow += result.overflow
            messages.append(Message("dropped", {"count": result.overflow}))
        return messages

    def _state_changes(self, conn: Connection, now: datetime) -> list[Message]:
        c = station_status.c
        changes: list[Message] = []
        rows = conn.execute(sa.select(c.site, c.line, c.station, c.state, c.received_at))
        for site, line, station, state, received_at in rows:
            shown = "offline" if now - received_at > STALE_AFTER else state
            key = (site, line, station)
            if self._seen.states.get(key) != shown:
                self._seen.states[key] = shown
                data = {"site": site, "line": line, "station": station, "state": shown}
                changes.append(Message("status", data, site, line, station))
        return changes

    def _alarm_changes(self, conn: Connection) -> list[Message]:
        rows = conn.execute(
            sa.select(alarms.c.station, sa.func.count())
            .where(alarms.c.cleared_at.is_(None), alarms.c.station.is_not(None))
            .group_by(alarms.c.station)
        ).all()
        counts = {str(name): int(count) for name, count in rows}
        changes: list[Message] = []
        for name in sorted(set(counts) | set(self._seen.alarms)):
            if counts.get(name, 0) != self._seen.alarms.get(name, 0):
                parts = name.split("/")
                if len(parts) == 3:
                    data = {"station": name, "open_alarms": counts.get(name, 0)}
                    changes.append(Message("alarms", data, *parts))
        self._seen.alarms = counts
        return changes


def _scan(event: dict[str, Any]) -> Message:
    return Message("scan", event, event.get("site"), event.get("line"), event.get("station"))


def hub_of(app: Any) -> LiveHub:
    """The app's hub, made on first use (one per app, whatever the number of streams)."""
    hub: LiveHub | None = getattr(app.state, "live_hub", None)
    if hub is None:
        hub = LiveHub(app.state.engine)
        app.state.live_hub = hub
    return hub


class LiveCollector(Collector):
    """The live stream's figures for ``/metrics`` (like the ingest's, they are this
    process's own, not the database's: zero until a stream opens here)."""

    def __init__(self, hub: LiveHub | None) -> None:
        self._hub = hub

    def collect(self) -> Iterator[Metric]:
        hub = self._hub
        prefix = "linetrace_central_live_"
        yield GaugeMetricFamily(
            prefix + "clients", "Open live streams.", value=hub.clients if hub else 0
        )
        yield CounterMetricFamily(
            prefix + "delivered",
            "Live messages queued for a client.",
            value=hub.delivered if hub else 0,
        )
        yield CounterMetricFamily(
            prefix + "dropped",
            "Live messages dropped because a client's queue was full (a slow browser).",
            value=hub.dropped if hub else 0,
        )
        yield CounterMetricFamily(
            prefix + "overflow",
            "Events not streamed because one look found more than it may hand out.",
            value=hub.overflow if hub else 0,
        )
