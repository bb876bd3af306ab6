"""Traces: one code's whole lineage, and everything about one lot.

``trace_code`` answers "where has this item (or case, or pallet) been": its product's
master data, its lot and batch, the containers it is in (up to the pallet) and what it
contains (down to the items), every station and time it was seen, and every check it
failed. ``trace_lot`` answers "what happened to this lot": its batches, its distinct
items, counts and first and last scan per station, the containers its items went into,
the no-reads on its line while its batches ran, its mismatches, and the seq gaps of the
stations involved (events that may be missing from the picture).

Both read only indexed paths (see :mod:`.store.trace_tables`), so their cost follows the
size of the answer, not of the events table. The lot trace's counts per station, item
count and containers are the summaries :mod:`.lotsummary` keeps at ingest time: a lot's
counts would otherwise cost a pass over all its reads and stays. Lists that can grow with a
lot's size are bounded, each with its total count and a way to read further.

Exceptions: :class:`CodeNotFound` and :class:`LotNotFound` (nothing stored names it);
:class:`linetrace.central.codes.MalformedCode` (the code breaks its GS1 form).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from pydantic import AwareDatetime, BaseModel, Field
from sqlalchemy.engine import Connection, RowMapping

from linetrace.broker.contract.topics import StationId
from linetrace.central.batches import Batch, batches_overlapping, list_batches
from linetrace.central.codes import CodeIdentity, MalformedCode, NotAnInstance, identify
from linetrace.central.containers import MAX_DEPTH, Stay, ancestors
from linetrace.central.products import Product, get_product
from linetrace.central.progress import all_progress, open_gaps
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import (
    NO_GTIN,
    containment,
    event_checks,
    lot_containers,
    lot_station_summaries,
    lot_summaries,
)

__all__ = [
    "MAX_CONTENTS",
    "MAX_ITEMS_PAGE",
    "MAX_LISTED",
    "CodeNotFound",
    "CodeTrace",
    "LotNotFound",
    "LotTrace",
    "trace_code",
    "trace_lot",
]

# A code is seen a handful of times on its way through a plant; a thousand sightings
# means a reused or copied label, and the first thousand show that well enough.
MAX_LISTED = 1000
# A pallet of cases of items holds a few thousand codes; the walk down stops at this
# many so that a huge or looping hierarchy cannot make one request unbounded.
MAX_CONTENTS = 10_000
# Items of a lot per page: a lot of a day's production holds tens of thousands.
MAX_ITEMS_PAGE = 1000
# Mismatches listed one by one in a lot trace (all of them are counted).
_MISMATCHES_LISTED = 100
# Children looked up per query while walking down the hierarchy; see containers._CHUNK.
_CHUNK = 500


class CodeNotFound(LookupError):
    """Nothing stored names this code."""


class LotNotFound(LookupError):
    """No batch and no event names this lot."""


class Sighting(BaseModel):
    """One time a station saw the code."""

    event_id: UUID = Field(description="The scan event.")
    station: str = Field(description="SITE/LINE/STATION that saw it.")
    kind: str = Field(description="read, noread or pack.")
    role: str = Field(description="code: the event's own code; child: listed in a pack event.")
    observed_at: AwareDatetime = Field(description="When, in the station's UTC offset.")
    text: str | None = Field(description="The event's decoded text.")


class Mismatch(BaseModel):
    """One failed check of one event."""

    event_id: UUID = Field(description="The scan event that failed the check.")
    station: str = Field(description="SITE/LINE/STATION of the event.")
    observed_at: AwareDatetime = Field(description="When the event was observed (UTC).")
    source: str = Field(description="central (batch checks) or edge (the station's own).")
    check: str = Field(description="Which check failed, e.g. gtin, lot, expired, pack.")
    detail: str = Field(description="Why it failed.")
    batch_id: int | None = Field(description="The batch open on the line at the time.")
    code: str | None = Field(description="The event's decoded text.")


class StayOut(BaseModel):
    """A child's stay in a parent container."""

    parent: str = Field(description="The container's key, (00) + SSCC.")
    child: str = Field(description="The child's key.")
    packed_at: AwareDatetime = Field(description="When it was packed (UTC).")
    unpacked_at: AwareDatetime | None = Field(description="When it left; null while inside.")
    station: str = Field(description="The station that saw the packing.")


class ContentNode(BaseModel):
    """One code inside a container, with what it contains in turn."""

    code: str = Field(description="The child's key.")
    packed_at: AwareDatetime = Field(description="When it was packed (UTC).")
    station: str = Field(description="The station that saw the packing.")
    contents: list[ContentNode] = Field(description="What this child contains now.")


class CodeTrace(BaseModel):
    """The lineage of one item or logistic unit."""

    code: str = Field(description="The code as given.")
    key: str = Field(description="The canonical key: (01)GTIN(21)serial, (00)SSCC or raw text.")
    kind: str = Field(description="item, sscc or raw.")
    gtin: str | None = Field(description="GTIN-14 of an item.")
    serial: str | None = Field(description="Serial of an item.")
    sscc: str | None = Field(description="SSCC of a logistic unit.")
    lot: str | None = Field(description="The lot, from the code or from its reads.")
    product: Product | None = Field(description="Master data of the item's GTIN, if set.")
    batches: list[Batch] = Field(description="Batches open on the lines when it was seen.")
    containers: list[StayOut] = Field(description="The containers it is in now, nearest first.")
    packing_history: list[StayOut] = Field(
        description="Every stay in a container, oldest first (re-packing included)."
    )
    contents: list[ContentNode] = Field(description="What it contains now, recursively.")
    contents_truncated: bool = Field(description=f"True when over {MAX_CONTENTS} codes inside.")
    sightings: list[Sighting] = Field(description="Every time a station saw it, oldest first.")
    sightings_truncated: bool = Field(description=f"True when seen over {MAX_LISTED} times.")
    mismatches: list[Mismatch] = Field(description="Checks its events failed.")


class StationSummary(BaseModel):
    """What one station saw of a lot."""

    station: str = Field(description="SITE/LINE/STATION.")
    gtin: str | None = Field(description="The GTIN read with the lot (null: not GS1 keyed).")
    reads: int = Field(description="Read events carrying the lot.")
    items: int = Field(description="Distinct items (serials) among them.")
    first_seen: AwareDatetime = Field(description="First read of the lot here (UTC).")
    last_seen: AwareDatetime = Field(description="Last read of the lot here (UTC).")


class ItemOut(BaseModel):
    """One item of a lot."""

    gtin: str = Field(description="GTIN-14.")
    serial: str = Field(description="Serial (AI 21).")
    first_seen: AwareDatetime = Field(description="First read (UTC).")


class ItemsPage(BaseModel):
    """The lot's distinct items, a page at a time in (GTIN, serial) order."""

    count: int = Field(description="Distinct items (GTIN + serial) read with the lot.")
    items: list[ItemOut] = Field(description="This page.")
    next_after: str | None = Field(
        description="Pass as items_after for the next page; null on the last page."
    )


class ContainerOut(BaseModel):
    """A container holding items of the lot."""

    code: str = Field(description="The container's key, (00) + SSCC.")
    items: int = Field(description="Items of the lot packed into it (ever).")
    parents: list[str] = Field(description="The containers it is in now, nearest first.")


class NoReadCount(BaseModel):
    """No-reads of one station while one of the lot's batches ran."""

    batch_id: int = Field(description="The batch.")
    station: str = Field(description="SITE/LINE/STATION.")
    noreads: int = Field(description="No-read events while the batch was open.")


class MismatchCount(BaseModel):
    """How often one check failed at one station."""

    station: str = Field(description="SITE/LINE/STATION.")
    source: str = Field(description="central or edge.")
    check: str = Field(description="The check.")
    events: int = Field(description="Events that failed it.")


class StationGap(BaseModel):
    """A station's completeness: events above the watermark may still be missing."""

    station: str = Field(description="SITE/LINE/STATION.")
    watermark: int = Field(description="Every seq up to this one is stored.")
    max_seq_seen: int = Field(description="The highest seq stored.")
    missing: list[tuple[int, int]] = Field(description="First runs of missing seqs, inclusive.")


class LotTrace(BaseModel):
    """Everything stored about one lot."""

    lot: str = Field(description="The lot (AI 10).")
    gtins: list[str] = Field(description="GTINs seen or planned with this lot.")
    products: list[Product] = Field(description="Master data of those GTINs, where set.")
    batches: list[Batch] = Field(description="Batches that packed this lot, newest first.")
    items: ItemsPage = Field(description="Distinct items read with the lot.")
    stations: list[StationSummary] = Field(
        description="Per station and GTIN: reads, items, first and last read."
    )
    first_seen: AwareDatetime | None = Field(description="First read of the lot (UTC).")
    last_seen: AwareDatetime | None = Field(description="Last read of the lot (UTC).")
    containers: list[ContainerOut] = Field(description="Containers its items were packed into.")
    containers_truncated: bool = Field(description=f"True when over {MAX_LISTED} containers.")
    noreads: list[NoReadCount] = Field(description="No-reads on the line during its batches.")
    mismatch_counts: list[MismatchCount] = Field(description="Failed checks, counted.")
    mismatches: list[Mismatch] = Field(description=f"The first {_MISMATCHES_LISTED} failures.")
    gaps: list[StationGap] = Field(description="Seq completeness of the stations involved.")


# --- one code --------------------------------------------------------------------------------


def trace_code(connection: Connection, code: str) -> CodeTrace:
    """The lineage of ``code``, in any form :func:`.codes.identify` reads."""
    identity = _identity(connection, code)
    own = _own_events(connection, identity)
    as_child = _packed_as_child(connection, identity.key)
    history = [_stay_out(row) for row in as_child]
    contents, truncated = _contents(connection, identity.key)
    if not own and not history and not contents:
        raise CodeNotFound(f"nothing stored names {identity.key!r}")
    sightings = sorted(
        [_sighting(row, "code") for row in own]
        + [_sighting(row, "child") for row in _events_by_id(connection, as_child)],
        key=lambda s: s.observed_at,
    )
    lot = identity.lot or next((row["lot"] for row in own if row["lot"]), None)
    gtin = identity.gtin
    return CodeTrace(
        code=code,
        key=identity.key,
        kind=identity.kind,
        gtin=gtin,
        serial=identity.serial,
        sscc=identity.sscc,
        lot=lot,
        product=get_product(connection, gtin) if gtin is not None else None,
        batches=_batches_seen(connection, own),
        containers=[_stay_model(stay) for stay in ancestors(connection, identity.key)],
        packing_history=history,
        contents=contents,
        contents_truncated=truncated,
        sightings=sightings[:MAX_LISTED],
        sightings_truncated=len(own) > MAX_LISTED or len(sightings) > MAX_LISTED,
        mismatches=_mismatches(
            connection, event_checks.c.event_id.in_([row["event_id"] for row in own])
        ),
    )


def _identity(connection: Connection, code: str) -> CodeIdentity:
    """What ``code`` names; a text that breaks a GS1 form may still be a stored raw code."""
    try:
        return identify(code)
    except NotAnInstance:
        raise
    except MalformedCode:
        stored = connection.execute(
            sa.select(events.c.event_id).where(events.c.text == code.strip()).limit(1)
        ).first()
        if stored is None:
            raise
        return CodeIdentity(kind="raw", key=code.strip(), text=code.strip())


def _own_events(connection: Connection, identity: CodeIdentity) -> list[RowMapping]:
    if identity.kind == "item":
        where = [events.c.gtin == identity.gtin, events.c.serial == identity.serial]
    elif identity.kind == "sscc":
        where = [events.c.sscc == identity.sscc]
    else:
        where = [events.c.text == identity.text]
    statement = (
        sa.select(*_EVENT_COLUMNS)
        .where(*where)
        .order_by(events.c.observed_at, events.c.event_id)
        .limit(MAX_LISTED + 1)
    )
    return list(connection.execute(statement).mappings())


def _packed_as_child(connection: Connection, key: str) -> list[RowMapping]:
    statement = (
        sa.select(containment)
        .where(containment.c.child_code == key)
        .order_by(containment.c.packed_at, containment.c.id)
        .limit(MAX_LISTED)
    )
    return list(connection.execute(statement).mappings())


def _events_by_id(connection: Connection, stays: Sequence[RowMapping]) -> list[RowMapping]:
    ids = sorted({stay["packed_event_id"] for stay in stays})
    if not ids:
        return []
    statement = sa.select(*_EVENT_COLUMNS).where(events.c.event_id.in_(ids))
    return list(connection.execute(statement).mappings())


def _contents(connection: Connection, key: str) -> tuple[list[ContentNode], bool]:
    """What ``key`` holds now, walked down level by level with one query per level."""
    roots: list[ContentNode] = []
    level = {key: roots}
    seen = {key}
    truncated = False
    for _ in range(MAX_DEPTH):
        parents = sorted(level)
        next_level: dict[str, list[ContentNode]] = {}
        for start in range(0, len(parents), _CHUNK):
            rows = connection.execute(
                sa.select(containment)
                .where(
                    containment.c.parent_code.in_(parents[start : start + _CHUNK]),
                    containment.c.unpacked_at.is_(None),
                )
                .order_by(containment.c.parent_code, containment.c.child_code)
            ).mappings()
            for row in rows:
                child = row["child_code"]
                if child in seen:
                    continue  # a loop in bad data: each code is listed once
                if len(seen) > MAX_CONTENTS:
                    truncated = True
                    break
                seen.add(child)
                node = ContentNode(
                    code=child,
                    packed_at=row["packed_at"],
                    station=_station_of(row),
                    contents=[],
                )
                level[row["parent_code"]].append(node)
                next_level[child] = node.contents
        if not next_level or truncated:
            break
        level = next_level
    return roots, truncated


def _batches_seen(connection: Connection, rows: Sequence[RowMapping]) -> list[Batch]:
    """The batches open on each line at the times the code was seen there."""
    if not rows:
        return []
    times = [row["observed_at"] for row in rows]
    lines = {(row["site"], row["line"]) for row in rows}
    candidates = batches_overlapping(connection, lines, min(times), max(times))
    found = {
        batch.id: batch
        for batch in candidates
        for row in rows
        if batch.site_line == (row["site"], row["line"]) and batch.covers(row["observed_at"])
    }
    return sorted(found.values(), key=lambda batch: batch.started_at)


# --- one lot ---------------------------------------------------------------------------------


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
        mismatch_counts=_mismatch_counts(connection, sa.or_(lot_checks, during)),
        mismatches=_mismatches(connection, sa.or_(lot_checks, during), _MISMATCHES_LISTED),
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
            station=_station_of(row),
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
        for start in range(0, len(wanted), _CHUNK):
            rows = connection.execute(
                sa.select(containment.c.child_code, containment.c.parent_code).where(
                    containment.c.child_code.in_(wanted[start : start + _CHUNK]),
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


def _mismatch_counts(connection: Connection, where: sa.ColumnElement[bool]) -> list[MismatchCount]:
    statement = (
        sa.select(
            event_checks.c.site,
            event_checks.c.line,
            event_checks.c.station,
            event_checks.c.source,
            event_checks.c.check,
            sa.func.count(),
        )
        .where(where)
        .group_by(*_CHECK_GROUP)
        .order_by(*_CHECK_GROUP)
    )
    return [
        MismatchCount(station=f"{site}/{line}/{station}", source=source, check=check, events=n)
        for site, line, station, source, check, n in connection.execute(statement)
    ]


def _mismatches(
    connection: Connection, where: sa.ColumnElement[bool], limit: int = MAX_LISTED
) -> list[Mismatch]:
    statement = (
        sa.select(event_checks)
        .where(where)
        .order_by(event_checks.c.observed_at, event_checks.c.id)
        .limit(limit)
    )
    return [
        Mismatch(
            event_id=row["event_id"],
            station=_station_of(row),
            observed_at=row["observed_at"],
            source=row["source"],
            check=row["check"],
            detail=row["detail"],
            batch_id=row["batch_id"],
            code=row["code"],
        )
        for row in connection.execute(statement).mappings()
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


# --- shared ----------------------------------------------------------------------------------

_EVENT_COLUMNS = [
    events.c.event_id,
    events.c.site,
    events.c.line,
    events.c.station,
    events.c.kind,
    events.c.observed_at,
    events.c.utc_offset_s,
    events.c.text,
    events.c.lot,
]
_CHECK_GROUP = [
    event_checks.c.site,
    event_checks.c.line,
    event_checks.c.station,
    event_checks.c.source,
    event_checks.c.check,
]


def _sighting(row: RowMapping, role: str) -> Sighting:
    offset = timezone(timedelta(seconds=row["utc_offset_s"]))
    return Sighting(
        event_id=row["event_id"],
        station=_station_of(row),
        kind=row["kind"],
        role=role,
        observed_at=row["observed_at"].astimezone(offset),
        text=row["text"],
    )


def _stay_out(row: RowMapping) -> StayOut:
    return StayOut(
        parent=row["parent_code"],
        child=row["child_code"],
        packed_at=row["packed_at"],
        unpacked_at=row["unpacked_at"],
        station=_station_of(row),
    )


def _stay_model(stay: Stay) -> StayOut:
    return StayOut(
        parent=stay.parent,
        child=stay.child,
        packed_at=stay.packed_at,
        unpacked_at=stay.unpacked_at,
        station=stay.station,
    )


def _station_of(row: Any) -> str:
    return f"{row['site']}/{row['line']}/{row['station']}"
