"""Detecting a station that reuses seqs: a new event under a seq already stored for it.

A station numbers its events 1, 2, 3 ... once, so a new ``event_id`` arriving with a seq
that central already holds under another ``event_id`` means the numbering restarted (an
edge whose outbox was wiped starts again at seq 1) or two edge agents are configured with
the same station id. Both events are stored, nothing is lost, and the watermark counts
the seq once; but the seq no longer proves completeness for that station, so a critical
``seq_reused`` alarm is raised, one per station, whose message and counts are updated
while the reuse goes on.

The check runs in :func:`linetrace.central.derive.progress.advance`, in the transaction that
stores the events, and costs nothing on the usual path: only a batch that brings a seq
at or below the station's highest seq seen, or the same seq twice, runs one indexed query
over those seqs. A late event filling a gap takes that query too and finds no clash.

The alarm clears itself once no reused seq has arrived for
``ingest.seq_reuse_alarm_clear_after_s`` (:func:`sweep_seq_reuse_alarms`, run by the
ingest's periodic sweep): a wiped outbox stops clashing once the edge's new seqs pass the
old highest, while two edges sharing one id keep it open until one is reconfigured.
Operators acknowledge it (``POST /api/alarms/{id}/ack``) to record who has seen it.
"""

from __future__ import annotations

import logging
from collections import Counter, defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import (
    clear_alarm,
    find_open_alarm,
    open_alarms,
    raise_alarm,
    update_alarm,
)
from linetrace.central.store.tables import events

__all__ = ["SEQ_REUSED", "Reuse", "check_seq_reuse", "may_reuse", "sweep_seq_reuse_alarms"]

log = logging.getLogger(__name__)

SEQ_REUSED = "seq_reused"
# One alarm per station: the key says what it is about within the kind.
_KEY = "seq"


@dataclass(frozen=True, slots=True)
class Reuse:
    """The clashes one batch brought: ``events`` new events under seqs already held."""

    events: int
    first_seq: int
    last_seq: int
    # The lowest clashing seq and the event_ids stored under it, earliest received first.
    clash_seq: int
    clash_event_ids: tuple[UUID, UUID]


def may_reuse(seqs: Collection[int], distinct: Collection[int], max_seq_seen: int) -> bool:
    """Whether a batch needs the query: a seq at or below the highest seen, or one twice."""
    return len(distinct) != len(seqs) or min(distinct) <= max_seq_seen


def check_seq_reuse(
    conn: Connection,
    station: StationId,
    seqs: Collection[int],
    max_seq_seen: int,
    now: datetime,
) -> Reuse | None:
    """Find the new seqs of ``station`` held by another event too; raise or update the alarm.

    ``seqs`` are the seqs of the events this transaction stored for the first time (one
    per new event, so a seq may appear twice); ``max_seq_seen`` is the station's highest
    before them.
    """
    counts = Counter(seqs)
    suspects = sorted(s for s, n in counts.items() if n > 1 or s <= max_seq_seen)
    if not suspects:
        return None
    reuse = _find(conn, station, suspects, counts)
    if reuse is not None:
        _raise_or_update(conn, station, reuse, now)
    return reuse


def sweep_seq_reuse_alarms(conn: Connection, now: datetime, quiet_for: timedelta) -> int:
    """Clear the ``seq_reused`` alarms of stations with no reuse for ``quiet_for``.

    Returns how many were cleared.
    """
    cleared = 0
    for alarm in open_alarms(conn, SEQ_REUSED, lock=True):
        last = _last_reused_at(alarm.details) or alarm.raised_at
        if now - last >= quiet_for:
            cleared += clear_alarm(conn, station=alarm.station, kind=SEQ_REUSED, key=alarm.key)
    if cleared:
        log.info("seq reuse alarms: %s cleared after %s without reuse", cleared, quiet_for)
    return cleared


def _find(
    conn: Connection, station: StationId, suspects: list[int], counts: Counter[int]
) -> Reuse | None:
    rows = conn.execute(
        sa.select(events.c.seq, events.c.event_id)
        .where(
            events.c.site == station.site,
            events.c.line == station.line,
            events.c.station == station.station,
            events.c.seq.in_(suspects),
        )
        .order_by(events.c.seq, events.c.received_at, events.c.event_id)
    )
    held: dict[int, list[UUID]] = defaultdict(list)
    for seq, event_id in rows:
        held[int(seq)].append(event_id)
    clashes = {seq: ids for seq, ids in held.items() if len(ids) > 1}
    if not clashes:
        return None
    # The new events at a seq clash with every other one there: all of them when the seq
    # was stored before, all but the first when the batch alone brought it twice.
    reused = sum(min(counts[seq], len(ids) - 1) for seq, ids in clashes.items())
    first = min(clashes)
    return Reuse(
        events=reused,
        first_seq=first,
        last_seq=max(clashes),
        clash_seq=first,
        clash_event_ids=(clashes[first][0], clashes[first][1]),
    )


def _raise_or_update(conn: Connection, station: StationId, reuse: Reuse, now: datetime) -> None:
    """One alarm per station: the first clash raises it, later ones add to its counts."""
    name = str(station)
    existing = find_open_alarm(conn, station=name, kind=SEQ_REUSED, key=_KEY)
    if existing is not None:
        details = _merged(existing.details, reuse, now)
        if update_alarm(conn, existing.id, message=_message(name, details), details=details):
            return
    # None open, or cleared by a sweep a moment ago: this reuse starts a new alarm.
    details = _merged(None, reuse, now)
    raise_alarm(
        conn,
        station=name,
        kind=SEQ_REUSED,
        key=_KEY,
        severity="critical",
        message=_message(name, details),
        details=details,
    )
    log.warning("%s", _message(name, details))


def _merged(previous: Mapping[str, Any] | None, reuse: Reuse, now: datetime) -> dict[str, Any]:
    """The alarm's details: running totals, the first clash kept, the latest batch's."""
    before = previous or {}
    clash = before.get("first_clash") or {
        "seq": reuse.clash_seq,
        "event_ids": [str(event_id) for event_id in reuse.clash_event_ids],
    }
    return {
        "reused_events": int(before.get("reused_events", 0)) + reuse.events,
        "first_seq": min(int(before.get("first_seq", reuse.first_seq)), reuse.first_seq),
        "last_seq": max(int(before.get("last_seq", reuse.last_seq)), reuse.last_seq),
        "batches": int(before.get("batches", 0)) + 1,
        "first_clash": clash,
        "last_batch": {
            "reused_events": reuse.events,
            "first_seq": reuse.first_seq,
            "last_seq": reuse.last_seq,
        },
        "last_reused_at": now.isoformat(),
    }


def _message(station: str, details: Mapping[str, Any]) -> str:
    clash = details["first_clash"]
    first_id, second_id = clash["event_ids"]
    return (
        f"station {station} reuses seqs: {details['reused_events']} new events came with seqs "
        f"{details['first_seq']}..{details['last_seq']} already stored under other event_ids "
        f"(first: seq {clash['seq']} as event {first_id}, then as event {second_id}). Its outbox "
        "was reset or another edge uses this station id; both events are kept."
    )


def _last_reused_at(details: Mapping[str, Any] | None) -> datetime | None:
    text = (details or {}).get("last_reused_at")
    if not isinstance(text, str):
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        return None
