"""The container hierarchy (item → case → pallet), built from ``pack`` events.

A pack event's own code is the parent's label, an SSCC (AI 00); its ``children`` are the
codes seen with it: items (GTIN + serial) in a case, cases (SSCC) on a pallet. Each
child's stay in a parent is one ``containment`` row, ``[packed_at, unpacked_at)``. A
child packed into another parent ends its previous stay there (``unpacked_at`` and the
event that moved it), so the history of re-packing is kept, not overwritten.

Events may be stored out of order (a station that was offline sends late), so a pack is
placed by its ``observed_at`` among the child's existing stays, not appended: it splits
the stay it falls in, or starts before the first. Seeing a child again in the parent it
is already in changes nothing, which also makes the whole step idempotent.

What cannot become a containment is recorded as a failed ``pack`` check of the event
(``event_checks``) with the reason: a parent label without an SSCC, children without an
instance key (SSCC or GTIN + serial), a child that is the parent itself, or a child that
already holds the parent (packing would make a loop).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.derive.codes import instance_key, item_key
from linetrace.central.derive.mismatches import CENTRAL, CheckFailure, insert_failures
from linetrace.central.store.gs1keys import extract_keys
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import containment

__all__ = [
    "PACK_CHECK",
    "Stay",
    "ancestors",
    "record_packs",
]

log = logging.getLogger(__name__)

PACK_CHECK = "pack"
# Case → pallet → container is three levels; ten leaves room for any real hierarchy
# while a loop in bad data cannot make a walk run for ever.
MAX_DEPTH = 10
# Children looked up per query: far below SQLite's 32766 bound parameters and
# PostgreSQL's 65535, and a pallet of a thousand cases takes two queries.
_CHUNK = 500
# Any constant shared by every central instance: the PostgreSQL advisory lock that makes
# the containment updates of concurrent ingest transactions take turns (see record_packs).
_CONTAINMENT_LOCK_KEY = 0x636F6E7461696E  # "contain"


@dataclass(frozen=True, slots=True)
class Stay:
    """One stay of a child in a parent."""

    parent: str
    child: str
    packed_at: datetime
    unpacked_at: datetime | None
    station: str


@dataclass(frozen=True, slots=True)
class _Child:
    key: str
    gtin: str | None  # None for a logistic unit (SSCC)
    serial: str | None
    lot: str | None


def record_packs(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Build the containment of newly stored pack events, oldest first.

    On PostgreSQL the transaction first takes an advisory lock, so two central instances
    never place stays of the same child at once (which could leave it in two parents).
    Pack events are a small share of a line's events, so the turns cost little.
    """
    packs = sorted((row for row in rows if row["kind"] == "pack"), key=lambda r: r["observed_at"])
    if not packs:
        return
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(:key)"), {"key": _CONTAINMENT_LOCK_KEY}
        )
    failures: list[CheckFailure] = []
    for row in packs:
        problems = _pack(connection, row)
        if problems:
            failures.append(CheckFailure(row, CENTRAL, PACK_CHECK, "; ".join(problems)))
    insert_failures(connection, failures)


def ancestors(connection: Connection, code: str, at: datetime | None = None) -> list[Stay]:
    """The parents of ``code`` at ``at`` (now when None), nearest first."""
    chain: list[Stay] = []
    seen = {code}
    current = code
    while len(chain) < MAX_DEPTH:
        stay = _stay_at(connection, current, at)
        if stay is None or stay.parent in seen:
            break
        chain.append(stay)
        seen.add(stay.parent)
        current = stay.parent
    return chain


def _pack(connection: Connection, row: Mapping[str, Any]) -> list[str]:
    """Place the children of one pack event; return why any part could not be placed."""
    payload = row["payload"]
    parent = instance_key(payload.get("gs1"))
    if parent is None or not parent.startswith("(00)"):
        return [f"the parent label {str(row['text'])[:80]!r} carries no SSCC (00)"]
    children, problems = _children(connection, payload.get("children") or [], parent)
    held_by = {stay.parent for stay in ancestors(connection, parent, row["observed_at"])}
    looping = [child for child in children if child.key in held_by]
    if looping:
        problems.append(
            f"{len(looping)} children hold the parent, packing would make a loop: "
            + ", ".join(child.key for child in looping[:5])
        )
    placeable = [child for child in children if child.key not in held_by]
    stays = _stays_of(connection, [child.key for child in placeable])
    for child in placeable:
        _place(connection, row, parent, child, stays.get(child.key, []))
    return problems


def _children(
    connection: Connection, reads: Iterable[Mapping[str, Any]], parent: str
) -> tuple[list[_Child], list[str]]:
    children: dict[str, _Child] = {}
    unkeyed: list[str] = []
    for read in reads:
        key = instance_key(read.get("gs1"))
        if key is None:
            unkeyed.append(str(read.get("text"))[:40])
            continue
        keys = extract_keys(read.get("gs1"))
        if keys.sscc is not None:
            children.setdefault(key, _Child(key, None, None, keys.lot))
        else:
            children.setdefault(key, _Child(key, keys.gtin, keys.serial, keys.lot))
    problems = []
    if unkeyed:
        problems.append(
            f"{len(unkeyed)} children carry no SSCC or GTIN + serial: "
            + ", ".join(repr(text) for text in unkeyed[:5])
        )
    if children.pop(parent, None) is not None:
        problems.append("the parent label was listed among its own children")
    return _with_lots(connection, list(children.values())), problems


def _with_lots(connection: Connection, children: list[_Child]) -> list[_Child]:
    """Fill in the lot of items whose code in the pack carried none, from their reads."""
    missing = [c for c in children if c.lot is None and c.gtin is not None]
    lots: dict[str, str] = {}
    for start in range(0, len(missing), _CHUNK):
        chunk = missing[start : start + _CHUNK]
        pairs = [(c.gtin, c.serial) for c in chunk]
        found = connection.execute(
            sa.select(events.c.gtin, events.c.serial, sa.func.min(events.c.lot))
            .where(
                sa.tuple_(events.c.gtin, events.c.serial).in_(pairs),
                events.c.lot.is_not(None),
            )
            .group_by(events.c.gtin, events.c.serial)
        )
        lots.update({item_key(gtin, serial): lot for gtin, serial, lot in found})
    return [replace(c, lot=lots[c.key]) if c.key in lots else c for c in children]


def _stays_of(connection: Connection, keys: list[str]) -> dict[str, list[RowMapping]]:
    """The existing stays of each child, in packing order."""
    stays: dict[str, list[RowMapping]] = {}
    for start in range(0, len(keys), _CHUNK):
        found = connection.execute(
            sa.select(containment)
            .where(containment.c.child_code.in_(keys[start : start + _CHUNK]))
            .order_by(containment.c.child_code, containment.c.packed_at, containment.c.id)
        ).mappings()
        for stay in found:
            stays.setdefault(stay["child_code"], []).append(stay)
    return stays


def _place(
    connection: Connection,
    row: Mapping[str, Any],
    parent: str,
    child: _Child,
    stays: list[RowMapping],
) -> None:
    """Put one child into ``parent`` at the pack's time, among the child's other stays."""
    at: datetime = row["observed_at"]
    before = [stay for stay in stays if stay["packed_at"] <= at]
    after = [stay for stay in stays if stay["packed_at"] > at]
    current = before[-1] if before else None
    following = after[0] if after else None
    if current is not None and current["parent_code"] == parent:
        return  # seen again where it already is
    if current is not None:
        connection.execute(
            containment.update()
            .where(containment.c.id == current["id"])
            .values(unpacked_at=at, unpacked_event_id=row["event_id"])
        )
    if following is not None and following["parent_code"] == parent:
        # Seen in this parent earlier than the pack already recorded: the stay starts here.
        connection.execute(
            containment.update()
            .where(containment.c.id == following["id"])
            .values(
                packed_at=at,
                packed_event_id=row["event_id"],
                site=row["site"],
                line=row["line"],
                station=row["station"],
            )
        )
        return
    connection.execute(
        containment.insert().values(
            parent_code=parent,
            child_code=child.key,
            child_gtin=child.gtin,
            child_lot=child.lot,
            packed_at=at,
            packed_event_id=row["event_id"],
            site=row["site"],
            line=row["line"],
            station=row["station"],
            unpacked_at=following["packed_at"] if following is not None else None,
            unpacked_event_id=following["packed_event_id"] if following is not None else None,
        )
    )


def _stay_at(connection: Connection, child: str, at: datetime | None) -> Stay | None:
    statement = sa.select(containment).where(containment.c.child_code == child)
    if at is None:
        statement = statement.where(containment.c.unpacked_at.is_(None))
    else:
        statement = statement.where(
            containment.c.packed_at <= at,
            sa.or_(containment.c.unpacked_at.is_(None), containment.c.unpacked_at > at),
        )
    found = connection.execute(
        statement.order_by(containment.c.packed_at.desc()).limit(1)
    ).mappings()
    row = found.first()
    return None if row is None else _stay(row)


def _stay(row: RowMapping) -> Stay:
    return Stay(
        parent=row["parent_code"],
        child=row["child_code"],
        packed_at=row["packed_at"],
        unpacked_at=row["unpacked_at"],
        station=f"{row['site']}/{row['line']}/{row['station']}",
    )
