"""One code's whole lineage: "where has this item (or case, or pallet) been".

``trace_code`` answers with its product's master data, its lot and batch, the containers
it is in (up to the pallet) and what it contains (down to the items), every station and
time it was seen, and every check it failed. It reads only indexed paths (see
:mod:`linetrace.central.store.trace_tables`), so its cost follows the size of the
answer, not of the events table; lists that can grow are bounded
(:mod:`.trace_limits`).

Exceptions: :class:`CodeNotFound` (nothing stored names it);
:class:`linetrace.central.derive.codes.MalformedCode` (the code breaks its GS1 form).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.derive.codes import CodeIdentity, MalformedCode, NotAnInstance, identify
from linetrace.central.derive.containers import MAX_DEPTH, ancestors
from linetrace.central.derive.production_batches import Batch, batches_overlapping
from linetrace.central.derive.products import get_product
from linetrace.central.query.trace_limits import CHUNK, MAX_CONTENTS, MAX_LISTED
from linetrace.central.query.trace_models import CodeTrace, ContentNode
from linetrace.central.query.trace_rows import (
    EVENT_COLUMNS,
    mismatches,
    sighting,
    station_of,
    stay_model,
    stay_out,
)
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import containment, event_checks
from linetrace.errors import NotFound

__all__ = ["CodeNotFound", "trace_code"]


class CodeNotFound(NotFound):
    """Nothing stored names this code."""


def trace_code(connection: Connection, code: str) -> CodeTrace:
    """The lineage of ``code``, in any form :func:`.derive.codes.identify` reads."""
    identity = _identity(connection, code)
    own = _own_events(connection, identity)
    as_child = _packed_as_child(connection, identity.key)
    history = [stay_out(row) for row in as_child]
    contents, truncated = _contents(connection, identity.key)
    if not own and not history and not contents:
        raise CodeNotFound(f"nothing stored names {identity.key!r}")
    sightings = sorted(
        [sighting(row, "code") for row in own]
        + [sighting(row, "child") for row in _events_by_id(connection, as_child)],
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
        containers=[stay_model(stay) for stay in ancestors(connection, identity.key)],
        packing_history=history,
        contents=contents,
        contents_truncated=truncated,
        sightings=sightings[:MAX_LISTED],
        sightings_truncated=len(own) > MAX_LISTED or len(sightings) > MAX_LISTED,
        mismatches=mismatches(
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
        sa.select(*EVENT_COLUMNS)
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
    statement = sa.select(*EVENT_COLUMNS).where(events.c.event_id.in_(ids))
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
        for start in range(0, len(parents), CHUNK):
            rows = connection.execute(
                sa.select(containment)
                .where(
                    containment.c.parent_code.in_(parents[start : start + CHUNK]),
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
                    station=station_of(row),
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
