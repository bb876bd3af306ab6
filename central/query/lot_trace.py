"""Everything about one lot: "what happened to this lot".

``trace_lot`` answers with its batches, its distinct items, counts and first and last
scan per station, the containers its items went into, the no-reads on its line while its
batches ran, its mismatches, and the seq gaps of the stations involved (events that may
be missing from the picture). Its counts per station, item count and containers are the
summaries :mod:`linetrace.central.derive.lot_summaries` keeps at ingest time: a lot's
counts would otherwise cost a pass over all its reads and stays. Lists that can grow
with a lot's size are bounded, each with its total count and a way to read further.

Exceptions: :class:`LotNotFound` (no batch and no event names it).
"""

from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.containers import MAX_DEPTH
from linetrace.central.derive.production_batches import Batch, list_batches
from linetrace.central.derive.products import get_product
from linetrace.central.derive.progress import all_progress, open_gaps
from linetrace.central.query.trace_limits import CHUNK, MAX_LISTED, MISMATCHES_LISTED
from linetrace.central.query.trace_models import (
    ContainerOut,
    ItemOut,
    ItemsPage,
    LotTrace,
    NoReadCount,
    StationGap,
    StationSummary,
)
from linetrace.central.query.trace_rows import mismatch_counts, mismatches, station_of
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import (
    NO_GTIN,
    containment,
    event_checks,
    lot_containers,
    lot_station_summaries,
    lot_summaries,
)
from linetrace.errors import NotFound

__all__ = ["LotNotFound", "trace_lot"]


class LotNotFound(NotFound):
    """No batch and no event names this lot."""


def trace_lot(
    connection: Connection,
    lot: str,
    gtin: str | None = None,
    *,
    items_after: str | None = None,
    items_limit: int = 100,
) -> LotTrace:
    """Everything about ``lot`` (of ``gtin``, or of any GTIN when None)."""
    batches = list_batches(connection, lot=lot, gtin=gtin, limit=MAX_LISTED)
    stations = _station_summaries(connection, lot, gtin)
    if not batches and not stations:
        of_what = f" of GTIN {gtin}" if gtin else ""
        raise LotNotFound(f"no batch and no read names lot {lot!r}{of_what}")
    item_counts = _item_counts(connection, lot, gtin)
    read = {g for g in item_counts if g != NO_GTIN}
    gtins = sorted({b.gtin for b in batches} | read)
    products = [p for p in (get_product(connection, g) for g in gtins) if p is not None]
    containers = _lot_containers(connection, lot, gtin)
    noreads = [count for batch in batches for count in _noreads(connection, batch)]
    involved = {summary.station for summary in stations} | {n.station for n in noreads}
    lot_checks = sa.and_(
        event_checks.c.lot == lot, *([event_checks.c.gtin == gtin] if gtin else [])
    )
    during = event_checks.c.batch_id.in_([b.id for b in batches])
    return LotTrace(
        lot=lot,
        gtins=gtins,
        products=products,
        batches=batches,
        items=_items_page(
            connection, lot, gtin, sum(item_counts[g] for g in read), items_after, items_limit
        ),
        stations=stations,
        first_seen=min((s.first_seen for s in stations), default=None),
        last_seen=max((s.last_seen for s in stations), default=None),
        containers=containers[:MAX_LISTED],
        containers_truncated=len(containers) > MAX_LISTED,
        noreads=noreads,
        mismatch_counts=mismatch_counts(connection, sa.or_(lot_checks, during)),
        mismatches=mismatches(connection, sa.or_(lot_checks, during), MISMATCHES_LISTED),
        gaps=_gaps(connection, involved),
    )


def _station_summaries(connection: Connection, lot: str, gtin: str | None) -> list[StationSummary]:
    """Reads, items, first and last read per station and GTIN: the summary rows, as kept."""
    table = lot_station_summaries
    statement = (
        sa.select(table)
        .where(table.c.lot == lot, *([table.c.gtin == gtin] if gtin is not None else []))
        .order_by(table.c.site, table.c.line, table.c.station, table.c.gtin)
    )
    return [
        StationSummary(
            station=station_of(row),
            gtin=row["gtin"] if row["gtin"] != NO_GTIN else None,
            reads=row["reads"],
            items=row["item_count"],
            first_seen=row["first_seen"],
            last_seen=row["last_seen"],
        )
        for row in connection.execute(statement).mappings()
    ]


def _item_counts(connection: Connection, lot: str, gtin: str | None) -> dict[str, int]:
    """Distinct items read per GTIN of the lot (every GTIN seen with it, in any event)."""
    table = lot_summaries
    statement = sa.select(table.c.gtin, table.c.item_count).where(
        table.c.lot == lot, *([table.c.gtin == gtin] if gtin is not None else [])
    )
    return {g: int(items) for g, items in connection.execute(statement)}


def _items_page(
    connection: Connection,
    lot: str,
    gtin: str | None,
    count: int,
    after: str | None,
    limit: int,
) -> ItemsPage:
    """One page of the lot's items, in the order of the index that holds them."""
    of_lot = [events.c.lot == lot] + ([events.c.gtin == gtin] if gtin is not None else [])
    page = (
        sa.select(events.c.gtin, events.c.serial, sa.func.min(events.c.observed_at))
        .where(
            *of_lot,
            events.c.kind == "read",
            events.c.gtin.is_not(None),  # an item is a GTIN + serial
            events.c.serial.is_not(None),
        )
        .group_by(events.c.gtin, events.c.serial)
        .order_by(events.c.gtin, events.c.serial)
        .limit(limit + 1)
    )
    if after is not None:
        after_gtin, _, after_serial = after.partition("/")
        page = page.where(sa.tuple_(events.c.gtin, events.c.serial) > (after_gtin, after_serial))
    rows = connection.execute(page).all()
    listed = [ItemOut(gtin=g, serial=s, first_seen=first) for g, s, first in rows[:limit]]
    more = len(rows) > limit and listed
    return ItemsPage(
        count=count,
        items=listed,
        next_after=f"{listed[-1].gtin}/{listed[-1].serial}" if more else None,
    )


def _lot_containers(connection: Connection, lot: str, gtin: str | None) -> list[ContainerOut]:
    """The containers the lot's items went into, each with the containers it is in now.

    The counts are the lot's summary rows; the first level up (case → pallet) is joined in
    the same query, and only the few containers above the pallets are walked one query
    per level.
    """
    table = lot_containers
    counted = (
        sa.select(
            table.c.parent_code.label("code"),
            sa.func.sum(table.c.item_count).label("held"),
        )
        .where(table.c.lot == lot, *([table.c.gtin == gtin] if gtin is not None else []))
        .group_by(table.c.parent_code)
        .order_by(table.c.parent_code)
        .limit(MAX_LISTED + 1)
        .subquery()
    )
    holder = containment.alias("holder")
    rows = connection.execute(
        sa.select(counted.c.code, counted.c.held, holder.c.parent_code)
        .outerjoin(
            holder,
            sa.and_(holder.c.child_code == counted.c.code, holder.c.unpacked_at.is_(None)),
        )
        .order_by(counted.c.code)
    ).all()
    above = _current_parents(connection, sorted({p for _, _, p in rows if p is not None}))
    return [
        ContainerOut(code=code, items=int(n), parents=[p, *above[p]] if p is not None else [])
        for code, n, p in rows
    ]


def _current_parents(connection: Connection, codes: list[str]) -> dict[str, list[str]]:
    """For each code, the containers it is in now, nearest first: one query per level."""
    chains: dict[str, list[str]] = {code: [] for code in codes}
    tip = {code: code for code in codes}  # the code each chain has reached so far
    for _ in range(MAX_DEPTH):
        wanted = sorted(set(tip.values()))
        if not wanted:
            break
        parent_of: dict[str, str] = {}
        for start in range(0, len(wanted), CHUNK):
            rows = connection.execute(
                sa.select(containment.c.child_code, containment.c.parent_code).where(
                    containment.c.child_code.in_(wanted[start : start + CHUNK]),
                    containment.c.unpacked_at.is_(None),
                )
            )
            parent_of.update({child: parent for child, parent in rows})
        next_tip = {}
        for code, reached in tip.items():
            parent = parent_of.get(reached)
            if parent is not None and parent not in chains[code] and parent != code:
                chains[code].append(parent)
                next_tip[code] = parent
        tip = next_tip
    return chains


def _noreads(connection: Connection, batch: Batch) -> list[NoReadCount]:
    site, line = batch.site_line
    window = [
        events.c.site == site,
        events.c.line == line,
        # Written into the statement, so that PostgreSQL's plan for a prepared statement
        # can still prove that the partial index of no-reads covers it.
        events.c.kind == sa.literal("noread", literal_execute=True),
        events.c.observed_at >= batch.started_at,
    ]
    if batch.closed_at is not None:
        window.append(events.c.observed_at < batch.closed_at)
    rows = connection.execute(
        sa.select(events.c.station, sa.func.count())
        .where(*window)
        .group_by(events.c.station)
        .order_by(events.c.station)
    )
    return [
        NoReadCount(batch_id=batch.id, station=f"{batch.line}/{station}", noreads=int(count))
        for station, count in rows
    ]


def _gaps(connection: Connection, stations: set[str]) -> list[StationGap]:
    wanted = {StationId.parse(station) for station in stations}
    progress = all_progress(connection)
    return [
        StationGap(
            station=str(station),
            watermark=progress[station].watermark,
            max_seq_seen=progress[station].max_seq_seen,
            missing=[(gap.first, gap.last) for gap in open_gaps(connection, progress[station])],
        )
        for station in sorted(wanted & progress.keys())
    ]
