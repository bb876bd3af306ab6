"""Per-lot summaries kept at ingest time, so a lot trace reads a few rows, not its events.

A lot trace reports, per station and GTIN, the reads of the lot, the distinct items among
them and the first and last read; the lot's distinct items overall; and the containers its
items were packed into, with how many. Computed from the events and the containment, each
of those reads every read or every stay of the lot (tens of thousands of index entries for
a shift); kept here, the trace reads one row per station and per container.

Counts and times are plain increments (``reads + n``, ``min``/``max`` of the times), so
events arriving late or in any order give the same totals; resends never reach this module
(the idempotent insert filters them). Distinct items need to know whether an item was read
before: the stored events answer that, under one rule that keeps concurrent writers exact:

- Each transaction first upserts the ``lot_summaries`` rows of its lots, in key order. On
  PostgreSQL that locks them until commit, so two central instances storing reads of one
  lot take turns from there on (and, in key order, never wait on each other in a cycle).
- Only then does it ask which of its items have stored reads besides its own. Under
  READ COMMITTED that statement sees every earlier holder's committed events, and no
  later holder can commit reads of the lot before this transaction ends: an item is
  counted as new by exactly one transaction, and no update is lost.

Container counts are recounted, not incremented: after :func:`.containers.record_packs`
has placed a batch's packs, the parents those packs name are counted again from the
containment (a few dozen children each). Containment changes take turns already (its
own lock), so a recount sees every change made before it, and a recount is idempotent.

SQLite has one writer at a time, so the same steps are trivially serialised there.

Summaries are derived data: :func:`rebuild_lot_summaries` (``linetrace central
lot-summaries rebuild LOT...|--all``) recomputes the rows of given lots from the events
and the containment, for example after a derivation failed and its savepoint was rolled
back (the ``derivation_failed`` alarm names the lots), or after old events were purged.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar, TypeVarTuple, cast

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Connection

from linetrace.central.derive.codes import sscc_key
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import (
    NO_GTIN,
    containment,
    lot_containers,
    lot_station_summaries,
    lot_summaries,
)

__all__ = ["rebuild_lot_summaries", "record_lot_summaries"]

# Serials (or parents) looked up per query: far below SQLite's 32,766 bound parameters,
# and an ingest batch of 500 events takes one query.
_CHUNK = 500

_LotKey = tuple[str, str]  # lot, gtin (NO_GTIN when the reads carry none)
_StationKey = tuple[str, str, str, str, str]  # lot, gtin, site, line, station
_ItemKey = tuple[str, str, str]  # lot, gtin, serial
_ItemAt = tuple[str, str, str, str, str, str]  # lot, gtin, serial, site, line, station
_T = TypeVar("_T")
_Ts = TypeVarTuple("_Ts")


@dataclass(slots=True)
class _StationTotals:
    """What one batch adds to one station's row."""

    reads: int
    first_seen: datetime
    last_seen: datetime
    items: int = 0


def record_lot_summaries(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Add newly stored events (``events`` rows, resends excluded) to their lots' summaries.

    Call it in the transaction that stored them, after the insert and after
    :func:`.containers.record_packs` placed their packs.
    """
    _recount_containers(connection, rows)
    with_lot = [row for row in rows if row["lot"] is not None]
    if not with_lot:
        return
    _lock_lots(connection, sorted({(row["lot"], row["gtin"] or NO_GTIN) for row in with_lot}))
    reads = [row for row in with_lot if row["kind"] == "read"]
    if not reads:
        return
    totals = _station_totals(reads)
    new_in_lot = _count_new_items(connection, reads, totals)
    _add_station_totals(connection, totals)
    _add_lot_items(connection, new_in_lot)


def rebuild_lot_summaries(
    connection: Connection,
    lots: Iterable[str] | None = None,
    *,
    on_step: Callable[[], None] | None = None,
) -> None:
    """Recompute the summaries of ``lots`` (of every lot when None) from their stored
    events and containment. ``on_step`` is called after each of a lot's three tables
    (a progress bar; set-based statements give no finer steps).

    On PostgreSQL the summary tables are locked against writes until the transaction
    ends, in the order the ingest writes them (so neither waits on the other in a cycle):
    the ingest's summary steps wait, then add their events to the rebuilt rows.
    """
    if connection.dialect.name == "postgresql":
        names = ", ".join(t.name for t in (lot_containers, lot_summaries, lot_station_summaries))
        connection.execute(sa.text(f"LOCK TABLE {names} IN EXCLUSIVE MODE"))
    for lot in [None] if lots is None else sorted(set(lots)):
        for table in (lot_summaries, lot_station_summaries, lot_containers):
            connection.execute(table.delete().where(*_of_lot(table.c.lot, lot)))
        for statement in _rebuilt(lot):
            connection.execute(statement)
            if on_step is not None:
                on_step()


def _of_lot(column: sa.Column[str], lot: str | None) -> list[sa.ColumnElement[bool]]:
    """The condition for one lot's rows, or for every row when ``lot`` is None."""
    return [] if lot is None else [column == lot]


def _rebuilt(lot: str | None) -> list[sa.Insert]:
    """The inserts that recompute one lot's rows, or every lot's (the migration's backfill)."""
    gtin = sa.func.coalesce(events.c.gtin, NO_GTIN)
    place = [events.c.site, events.c.line, events.c.station]
    read_serial = sa.case((events.c.kind == "read", events.c.serial))
    child_gtin = sa.func.coalesce(containment.c.child_gtin, NO_GTIN)
    of_lot = [events.c.lot.is_not(None), *_of_lot(events.c.lot, lot)]
    of_child_lot = [containment.c.child_lot.is_not(None), *_of_lot(containment.c.child_lot, lot)]
    return [
        lot_summaries.insert().from_select(
            ["lot", "gtin", "item_count"],
            sa.select(events.c.lot, gtin, sa.func.count(sa.distinct(read_serial)))
            .where(*of_lot)
            .group_by(events.c.lot, gtin),
        ),
        lot_station_summaries.insert().from_select(
            ["lot", "gtin", "site", "line", "station", "reads", "item_count", "first_seen",
             "last_seen"],
            sa.select(
                events.c.lot, gtin, *place, sa.func.count(),
                sa.func.count(sa.distinct(events.c.serial)),
                sa.func.min(events.c.observed_at), sa.func.max(events.c.observed_at),
            )
            .where(*of_lot, events.c.kind == "read")
            .group_by(events.c.lot, gtin, *place),
        ),
        lot_containers.insert().from_select(
            ["lot", "gtin", "parent_code", "item_count"],
            sa.select(
                containment.c.child_lot, child_gtin, containment.c.parent_code,
                sa.func.count(sa.distinct(containment.c.child_code)),
            )
            .where(*of_child_lot)
            .group_by(containment.c.child_lot, child_gtin, containment.c.parent_code),
        ),
    ]  # fmt: skip


def _recount_containers(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Count again, per lot and GTIN, the children of the parents these packs name."""
    parents = sorted(
        {sscc_key(row["sscc"]) for row in rows if row["kind"] == "pack" and row["sscc"]}
    )
    child_gtin = sa.func.coalesce(containment.c.child_gtin, NO_GTIN)
    per_parent = (
        sa.select(
            containment.c.child_lot,
            child_gtin,
            containment.c.parent_code,
            sa.func.count(sa.distinct(containment.c.child_code)),
        )
        .where(containment.c.child_lot.is_not(None))
        .group_by(containment.c.child_lot, child_gtin, containment.c.parent_code)
    )
    counted: list[tuple[str, str, str, int]] = []
    for chunk in _chunks(parents):
        counted += connection.execute(
            _for_each(connection, per_parent, containment.c.parent_code, chunk)
        ).all()
    if not counted:
        return
    insert = dialect_insert(connection, lot_containers)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["lot", "gtin", "parent_code"],
            set_={"item_count": insert.excluded.item_count},
        ),
        [
            {"lot": lot, "gtin": gtin, "parent_code": parent, "item_count": count}
            for lot, gtin, parent, count in sorted(counted)
        ],
    )


def _lock_lots(connection: Connection, lots: Sequence[_LotKey]) -> None:
    """Create or touch the lots' rows, in key order: the turn-taking described above."""
    insert = dialect_insert(connection, lot_summaries)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["lot", "gtin"], set_={"item_count": lot_summaries.c.item_count}
        ),
        [{"lot": lot, "gtin": gtin, "item_count": 0} for lot, gtin in lots],
    )


def _station_totals(reads: Sequence[Mapping[str, Any]]) -> dict[_StationKey, _StationTotals]:
    totals: dict[_StationKey, _StationTotals] = {}
    for row in reads:
        at: datetime = row["observed_at"]
        key = (row["lot"], row["gtin"] or NO_GTIN, row["site"], row["line"], row["station"])
        found = totals.get(key)
        if found is None:
            totals[key] = _StationTotals(1, at, at)
        else:
            found.reads += 1
            found.first_seen = min(found.first_seen, at)
            found.last_seen = max(found.last_seen, at)
    return totals


def _count_new_items(
    connection: Connection,
    reads: Sequence[Mapping[str, Any]],
    totals: dict[_StationKey, _StationTotals],
) -> Counter[_LotKey]:
    """Count the items first read by this batch, per station (into ``totals``) and per lot.

    An item is new where every stored read of it is one of this batch's own.
    """
    own: Counter[_ItemAt] = Counter(
        (row["lot"], row["gtin"] or NO_GTIN, row["serial"], row["site"], row["line"],
         row["station"])
        for row in reads
        if row["serial"] is not None
    )  # fmt: skip
    stored = _stored_reads(connection, own)
    own_in_lot: Counter[_ItemKey] = Counter()
    for (lot, gtin, serial, site, line, station), count in own.items():
        own_in_lot[lot, gtin, serial] += count
        if stored[lot, gtin, serial, site, line, station] == count:
            totals[lot, gtin, site, line, station].items += 1
    stored_in_lot: Counter[_ItemKey] = Counter()
    for (lot, gtin, serial, _, _, _), count in stored.items():
        stored_in_lot[lot, gtin, serial] += count
    return Counter(
        (lot, gtin)
        for (lot, gtin, serial), count in own_in_lot.items()
        if stored_in_lot[lot, gtin, serial] == count
    )


def _stored_reads(connection: Connection, items: Iterable[_ItemAt]) -> Counter[_ItemAt]:
    """Stored reads of the items of ``items`` (this transaction's too), per station.

    Looked up by GTIN and serial, one query per GTIN (a batch holds few): one index seek
    per serial, whatever the size of the lot or of the table. The lot is left out of the
    condition on purpose: for a lot the statistics do not know yet, PostgreSQL would
    rather read every event of the lot through the index on the lot alone.
    """
    serials: dict[str, set[str]] = {}
    lots: set[_LotKey] = set()
    for lot, gtin, serial, _, _, _ in items:
        serials.setdefault(gtin, set()).add(serial)
        lots.add((lot, gtin))
    stored: Counter[_ItemAt] = Counter()
    for gtin, of_gtin in sorted(serials.items()):
        for chunk in _chunks(sorted(of_gtin)):
            found = connection.execute(_reads_of(connection, gtin, chunk)).all()
            for lot, serial, site, line, station in found:
                if (lot, gtin) in lots:
                    stored[lot, gtin, serial, site, line, station] += 1
    return stored


def _reads_of(
    connection: Connection, gtin: str, serials: Sequence[str]
) -> sa.Select[str, str, str, str, str]:
    """The reads of these serials of ``gtin``: their lot and station, one row per read."""
    same_gtin = events.c.gtin.is_(None) if gtin == NO_GTIN else events.c.gtin == gtin
    reads = sa.select(
        events.c.lot, events.c.serial, events.c.site, events.c.line, events.c.station
    ).where(same_gtin, events.c.kind == "read")
    return _for_each(connection, reads, events.c.serial, serials)


def _for_each(
    connection: Connection,
    statement: sa.Select[*_Ts],
    column: sa.Column[str],
    values: Sequence[str],
) -> sa.Select[*_Ts]:
    """``statement`` for the rows whose ``column`` is one of ``values``: a seek per value.

    SQLite seeks the column's index once per value of an IN list. PostgreSQL plans an IN
    list, or a join, from its statistics, and for a key they do not know yet (a GTIN new
    since the last ANALYZE, which on a large table may be millions of events ago) reads
    all of that key's rows into a hash instead. A lateral lookup per value is a seek
    whatever the statistics say, as long as it stays a lookup: ``OFFSET 0`` keeps the
    planner from flattening it into that join.
    """
    if connection.dialect.name != "postgresql":
        return statement.where(column.in_(values))
    listed = sa.bindparam("values", list(values), type_=postgresql.ARRAY(sa.String()))
    wanted = sa.func.unnest(listed).table_valued("value").render_derived(name="wanted")
    found = statement.where(column == wanted.c.value).offset(0).lateral("found")
    each = sa.select(*found.c).select_from(wanted.join(found, sa.true()))
    return cast("sa.Select[*_Ts]", each)


def _add_station_totals(
    connection: Connection, totals: Mapping[_StationKey, _StationTotals]
) -> None:
    table = lot_station_summaries
    earlier, later = _least_greatest(connection)
    insert = dialect_insert(connection, table)
    connection.execute(
        insert.on_conflict_do_update(
            index_elements=["lot", "gtin", "site", "line", "station"],
            set_={
                "reads": table.c.reads + insert.excluded.reads,
                "item_count": table.c.item_count + insert.excluded.item_count,
                "first_seen": earlier(table.c.first_seen, insert.excluded.first_seen),
                "last_seen": later(table.c.last_seen, insert.excluded.last_seen),
            },
        ),
        [
            {"lot": lot, "gtin": gtin, "site": site, "line": line, "station": station,
             "reads": t.reads, "item_count": t.items, "first_seen": t.first_seen,
             "last_seen": t.last_seen}
            for (lot, gtin, site, line, station), t in sorted(totals.items())
        ],
    )  # fmt: skip


def _add_lot_items(connection: Connection, new_in_lot: Mapping[_LotKey, int]) -> None:
    for (lot, gtin), new in sorted(new_in_lot.items()):
        connection.execute(
            lot_summaries.update()
            .where(lot_summaries.c.lot == lot, lot_summaries.c.gtin == gtin)
            .values(item_count=lot_summaries.c.item_count + new)
        )


def _chunks(values: Sequence[_T]) -> Iterable[Sequence[_T]]:
    return (values[start : start + _CHUNK] for start in range(0, len(values), _CHUNK))


def _least_greatest(connection: Connection) -> tuple[Any, Any]:
    """Two-value min and max: SQLite's scalar ``min``/``max``, PostgreSQL's least/greatest."""
    if connection.dialect.name == "sqlite":
        return sa.func.min, sa.func.max
    return sa.func.least, sa.func.greatest
