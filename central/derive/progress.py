"""Per-station completeness: the highest contiguous ``seq`` committed, and the gaps above it.

Each station numbers its events 1, 2, 3 ... without gaps, so "every seq up to N is stored"
proves that nothing before N was lost. The ``watermark`` of a station is that N; it is
published to the station (retained ``ack``), which then forgets what it covers.

The watermark is advanced in the transaction that stores the events, so it can never
cover an event that is not committed. It is cheap: only a batch that brings ``watermark +
1`` can move it, the batch's own seqs usually carry it all the way (events arrive in
order), and only when seqs arrived out of order does one indexed query over the
station's seqs above the watermark find where the contiguous run ends. Duplicated seqs
(two event_ids with one seq) count once, and raise a ``seq_reused`` alarm
(:mod:`.seq_reuse`); that check, too, queries only when a batch brings a seq at or below
the station's highest seen, or one seq twice.

Several central instances may store events of one station at once. The station's
progress row is locked (``SELECT ... FOR UPDATE``) before it is read, and the events are
inserted before the lock is taken, so the second transaction waits for the first and
then sees its events: the watermark never lags behind what both committed. Rows are
locked in station order, so two batches never wait on each other in a cycle.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.seq_reuse import check_seq_reuse, may_reuse
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import events, station_progress

__all__ = ["Gap", "Progress", "advance", "all_progress", "open_gaps"]

# Most gaps listed per station: enough to see the pattern of a fault, bounded so that a
# station with thousands of holes cannot make a listing slow.
MAX_GAPS_LISTED = 20
# Most seqs above the watermark read to find the gaps; with MAX_GAPS_LISTED this bounds
# the listing's cost while still finding the first gaps of a badly broken stream.
_GAP_SCAN_LIMIT = 10_000


@dataclass(frozen=True, slots=True)
class Progress:
    """Where one station stands."""

    station: StationId
    watermark: int
    max_seq_seen: int
    behind_since: datetime | None
    updated_at: datetime

    @property
    def missing(self) -> bool:
        """True while a seq above the watermark waits for a missing one."""
        return self.max_seq_seen > self.watermark


@dataclass(frozen=True, slots=True)
class Gap:
    """Missing seqs ``first`` to ``last``, both included."""

    first: int
    last: int


def advance(
    conn: Connection, new_seqs: Mapping[StationId, Collection[int]], now: datetime
) -> dict[StationId, int]:
    """Account for newly stored seqs; return the stations whose watermark moved, and to what."""
    if not new_seqs:
        return {}
    order = sorted(new_seqs)
    current = _lock(conn, order, now)
    moved: dict[StationId, int] = {}
    updates = []
    for station in order:
        before = current[station]
        seqs = new_seqs[station]
        distinct = set(seqs)
        if may_reuse(seqs, distinct, before.max_seq_seen):
            check_seq_reuse(conn, station, seqs, before.max_seq_seen, now)
        after = _next_state(conn, before, distinct, now)
        if _state(after) != _state(before):
            updates.append(after)
        if after.watermark != before.watermark:
            moved[station] = after.watermark
    if updates:
        _store(conn, updates)
    return moved


def all_progress(conn: Connection) -> dict[StationId, Progress]:
    """Every station's progress (a small table: one row per station)."""
    rows = conn.execute(sa.select(station_progress))
    return {
        StationId(r.site, r.line, r.station): Progress(
            StationId(r.site, r.line, r.station),
            int(r.watermark),
            int(r.max_seq_seen),
            r.behind_since,
            r.updated_at,
        )
        for r in rows
    }


def open_gaps(conn: Connection, progress: Progress, limit: int = MAX_GAPS_LISTED) -> list[Gap]:
    """The first ``limit`` runs of missing seqs between the watermark and the highest seen."""
    if not progress.missing:
        return []
    seqs = conn.execute(
        sa.select(events.c.seq)
        .where(*_of(progress.station), events.c.seq > progress.watermark)
        .distinct()
        .order_by(events.c.seq)
        .limit(_GAP_SCAN_LIMIT)
    ).scalars()
    gaps: list[Gap] = []
    expected = progress.watermark + 1
    for seq in seqs:
        if seq > expected:
            gaps.append(Gap(expected, seq - 1))
            if len(gaps) >= limit:
                return gaps
        expected = seq + 1
    return gaps


def _next_state(conn: Connection, before: Progress, seqs: set[int], now: datetime) -> Progress:
    highest = max(before.max_seq_seen, max(seqs))
    watermark = before.watermark
    if watermark + 1 in seqs:
        while watermark + 1 in seqs:
            watermark += 1
        if watermark < before.max_seq_seen:
            # Seqs above this batch's run were stored earlier: follow them in the table.
            watermark = _end_of_run(conn, before.station, watermark)
    if watermark >= highest:
        behind_since = None
    elif before.behind_since is not None and watermark == before.watermark:
        behind_since = before.behind_since
    else:
        behind_since = _first_waiting_since(conn, before.station, watermark) or now
    return Progress(before.station, watermark, highest, behind_since, now)


def _state(progress: Progress) -> tuple[int, int, datetime | None]:
    return progress.watermark, progress.max_seq_seen, progress.behind_since


def _end_of_run(conn: Connection, station: StationId, start: int) -> int:
    """The last seq of the contiguous run that begins at ``start`` (which is stored)."""
    following = events.alias("following")
    has_next = (
        sa.select(sa.literal(1))
        .where(
            following.c.site == events.c.site,
            following.c.line == events.c.line,
            following.c.station == events.c.station,
            following.c.seq == events.c.seq + 1,
        )
        .exists()
    )
    end = conn.execute(
        sa.select(sa.func.min(events.c.seq)).where(*_of(station), events.c.seq >= start, ~has_next)
    ).scalar_one()
    return int(end)


def _first_waiting_since(conn: Connection, station: StationId, watermark: int) -> datetime | None:
    """When the earliest event above the watermark arrived: since then a seq is missing."""
    result: datetime | None = conn.execute(
        sa.select(sa.func.min(events.c.received_at)).where(*_of(station), events.c.seq > watermark)
    ).scalar_one()
    return result


def _lock(conn: Connection, order: list[StationId], now: datetime) -> dict[StationId, Progress]:
    """The progress rows of ``order``, created if missing, locked until the commit."""
    found = _select_for_update(conn, order)
    missing = [station for station in order if station not in found]
    if missing:
        conn.execute(
            dialect_insert(conn, station_progress).on_conflict_do_nothing(
                index_elements=["site", "line", "station"]
            ),
            [
                {
                    "site": s.site,
                    "line": s.line,
                    "station": s.station,
                    "watermark": 0,
                    "max_seq_seen": 0,
                    "behind_since": None,
                    "updated_at": now,
                }
                for s in missing
            ],
        )
        found.update(_select_for_update(conn, missing))
    return found


def _select_for_update(conn: Connection, order: list[StationId]) -> dict[StationId, Progress]:
    key = sa.tuple_(station_progress.c.site, station_progress.c.line, station_progress.c.station)
    rows = conn.execute(
        sa.select(station_progress)
        .where(key.in_([(s.site, s.line, s.station) for s in order]))
        .order_by(station_progress.c.site, station_progress.c.line, station_progress.c.station)
        .with_for_update()
    )
    found = {}
    for r in rows:
        station = StationId(r.site, r.line, r.station)
        found[station] = Progress(
            station, int(r.watermark), int(r.max_seq_seen), r.behind_since, r.updated_at
        )
    return found


def _store(conn: Connection, updates: list[Progress]) -> None:
    conn.execute(
        station_progress.update()
        .where(
            station_progress.c.site == sa.bindparam("k_site"),
            station_progress.c.line == sa.bindparam("k_line"),
            station_progress.c.station == sa.bindparam("k_station"),
        )
        .values(
            watermark=sa.bindparam("watermark"),
            max_seq_seen=sa.bindparam("max_seq_seen"),
            behind_since=sa.bindparam("behind_since"),
            updated_at=sa.bindparam("updated_at"),
        ),
        [
            {
                "k_site": p.station.site,
                "k_line": p.station.line,
                "k_station": p.station.station,
                "watermark": p.watermark,
                "max_seq_seen": p.max_seq_seen,
                "behind_since": p.behind_since,
                "updated_at": p.updated_at,
            }
            for p in updates
        ],
    )


def _of(station: StationId) -> list[sa.ColumnElement[bool]]:
    return [
        events.c.site == station.site,
        events.c.line == station.line,
        events.c.station == station.station,
    ]
