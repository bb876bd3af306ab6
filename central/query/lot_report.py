"""The lot report: an auditor's proof of what happened to one lot (GTIN + lot).

Built from what already answers parts of it, so every screen agrees: the lot trace
(batches, reads per station, items, mismatches: :mod:`.lot_trace`, on the summaries kept
at ingest), the relay's reconciliation (:mod:`linetrace.central.relay.status`) and the
Circular 02/2024 element check (:mod:`linetrace.central.relay.portal_check`). Added here:
events per station *and kind* (packs and no-reads too) and completeness over the span a
station handled the lot: the seqs between its first and last event of the lot, counted
on the (station, seq) index, so a million-event lot costs an index range count per
station, not a pass over its events.

Exceptions: :class:`~.lot_trace.LotNotFound` (no batch and no event names the lot).
"""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import open_alarm_keys
from linetrace.central.derive.gap_alarms import SEQ_GAP
from linetrace.central.derive.production_batches import Batch
from linetrace.central.derive.progress import all_progress, open_gaps
from linetrace.central.query.lot_report_models import (
    Completeness,
    CompletenessState,
    KindCount,
    LotReport,
    RelayCounts,
)
from linetrace.central.query.lot_trace import LotNotFound, trace_lot
from linetrace.central.relay.portal_check import LotCheck, check_lot, traceability_code
from linetrace.central.relay.portal_check import LotNotFound as NoElements
from linetrace.central.relay.status import relay_status
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import containment

__all__ = ["LotNotFound", "lot_report"]

_Span = tuple[datetime, datetime]


def lot_report(connection: Connection, gtin: str, lot: str, now: datetime) -> LotReport:
    """The report of (GTIN-14, lot); LotNotFound when central knows nothing of it."""
    trace = trace_lot(connection, lot, gtin, items_limit=1)
    counts: list[KindCount] = []
    spans: dict[str, _Span] = {}
    reads: dict[str, int] = defaultdict(int)
    for summary in trace.stations:
        reads[summary.station] += summary.reads
        _widen(spans, summary.station, summary.first_seen, summary.last_seen)
    counts += [KindCount(station=s, kind="read", events=n) for s, n in sorted(reads.items())]
    counts += _packs(connection, gtin, lot, spans)
    counts += _noreads(connection, trace.batches)
    elements = _elements(connection, gtin, lot)
    return LotReport(
        gtin=gtin,
        lot=lot,
        traceability_code=traceability_code(gtin, lot),
        product_name=next((p.name for p in trace.products if p.gtin == gtin), None),
        generated_at=now,
        first_seen=trace.first_seen,
        last_seen=trace.last_seen,
        items=trace.items.count,
        batches=trace.batches,
        counts=sorted(counts, key=lambda c: (c.station, c.kind)),
        completeness=_completeness(connection, spans),
        mismatch_counts=trace.mismatch_counts,
        mismatches=trace.mismatches,
        relay=_relay(connection, gtin, lot, now),
        elements=elements.elements if elements is not None else [],
        missing_elements=elements.missing_required if elements is not None else [],
    )


def _widen(spans: dict[str, _Span], station: str, first: datetime, last: datetime) -> None:
    known = spans.get(station)
    spans[station] = (first, last) if known is None else (min(known[0], first), max(known[1], last))


def _packs(connection: Connection, gtin: str, lot: str, spans: dict[str, _Span]) -> list[KindCount]:
    """Pack events that put the lot's items into containers, per station (and their span)."""
    c = containment.c
    rows = connection.execute(
        sa.select(
            c.site,
            c.line,
            c.station,
            sa.func.count(sa.distinct(c.packed_event_id)),
            sa.func.min(c.packed_at),
            sa.func.max(c.packed_at),
        )
        .where(c.child_gtin == gtin, c.child_lot == lot)
        .group_by(c.site, c.line, c.station)
        .order_by(c.site, c.line, c.station)
    ).all()
    counted = []
    for site, line, station, packs, first, last in rows:
        name = f"{site}/{line}/{station}"
        _widen(spans, name, first, last)
        counted.append(KindCount(station=name, kind="pack", events=int(packs)))
    return counted


def _noreads(connection: Connection, batches: list[Batch]) -> list[KindCount]:
    """No-reads on the lot's lines while its batches ran (a no-read names no code)."""
    totals: dict[str, int] = defaultdict(int)
    for batch in batches:
        site, line = batch.site_line
        window = [
            events.c.site == site,
            events.c.line == line,
            events.c.kind == sa.literal("noread", literal_execute=True),  # the partial index
            events.c.observed_at >= batch.started_at,
            *([events.c.observed_at < batch.closed_at] if batch.closed_at is not None else []),
        ]
        for station, count in connection.execute(
            sa.select(events.c.station, sa.func.count()).where(*window).group_by(events.c.station)
        ):
            totals[f"{site}/{line}/{station}"] += int(count)
    return [KindCount(station=s, kind="noread", events=n) for s, n in sorted(totals.items())]


def _completeness(connection: Connection, spans: dict[str, _Span]) -> list[Completeness]:
    progress = all_progress(connection)
    alarmed = {station for station, _ in open_alarm_keys(connection, SEQ_GAP)}
    found = []
    for name, (first, last) in sorted(spans.items()):
        station = StationId.parse(name)
        of_station = [
            events.c.site == station.site,
            events.c.line == station.line,
            events.c.station == station.station,
        ]
        first_seq = _seq_at(connection, of_station, first, last=False)
        last_seq = _seq_at(connection, of_station, last, last=True)
        if first_seq is None or last_seq is None:
            continue  # the events were purged; nothing to count
        stored = _distinct_seqs(connection, of_station, first_seq, last_seq)
        missing = last_seq - first_seq + 1 - stored
        runs: list[tuple[int, int]] = []
        waiting = 0
        mark = progress.get(station)
        if missing and mark is not None and last_seq > mark.watermark:
            # Above the watermark a seq may still arrive; below it every seq was stored.
            above = max(first_seq, mark.watermark + 1)
            waiting = last_seq - above + 1 - _distinct_seqs(connection, of_station, above, last_seq)
            for gap in open_gaps(connection, mark):
                low, high = max(gap.first, first_seq), min(gap.last, last_seq)
                if low <= high:
                    runs.append((low, high))
        state: CompletenessState = (
            "complete" if missing == 0 else "waiting" if waiting == missing else "lost"
        )
        found.append(
            Completeness(
                station=name,
                first_seen=first,
                last_seen=last,
                first_seq=first_seq,
                last_seq=last_seq,
                stored=stored,
                missing=missing,
                waiting=waiting,
                missing_runs=runs,
                state=state,
                gap_alarm=name in alarmed,
            )
        )
    return found


def _seq_at(
    connection: Connection, of_station: list[sa.ColumnElement[bool]], at: datetime, *, last: bool
) -> int | None:
    """The seq of the station's event at ``at`` (the lowest at the first, highest at the last)."""
    pick = sa.func.max(events.c.seq) if last else sa.func.min(events.c.seq)
    value = connection.execute(
        sa.select(pick).where(*of_station, events.c.observed_at == at)
    ).scalar()
    return None if value is None else int(value)


def _distinct_seqs(
    connection: Connection, of_station: list[sa.ColumnElement[bool]], low: int, high: int
) -> int:
    """Distinct seqs stored from ``low`` to ``high``: a count on the (station, seq) index."""
    return int(
        connection.execute(
            sa.select(sa.func.count(sa.distinct(events.c.seq))).where(
                *of_station, events.c.seq.between(low, high)
            )
        ).scalar_one()
    )


def _relay(connection: Connection, gtin: str, lot: str, now: datetime) -> list[RelayCounts]:
    status = relay_status(connection, now, lot=lot, gtin=gtin)
    return [
        RelayCounts(
            target=entry["target"],
            queued=entry["counts"].get("queued", 0),
            sent=entry["counts"].get("sent", 0),
            accepted=entry["counts"].get("accepted", 0),
            rejected=entry["counts"].get("rejected", 0),
            oldest_undelivered_at=entry["oldest_undelivered_at"],
        )
        for entry in status["targets"]
    ]


def _elements(connection: Connection, gtin: str, lot: str) -> LotCheck | None:
    try:
        return check_lot(connection, gtin, lot)
    except NoElements:
        return None
