"""Reading what the mapping needs from central's database, in a few queries per batch.

:func:`map_events` takes event ids (the relay's queue, an export's page) and reads, per
chunk of ids: the events, their stations (GLN, role), their failed checks
(``event_checks``, edge's and central's), and the production batches open on their
lines over the chunk's time span, then maps them with the pure
:func:`~linetrace.central.relay.epcis.mapping.map_rows`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, cast
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.production_batches import Batch, batches_overlapping
from linetrace.central.relay.epcis.mapping import FailedCheck, MappedEvent, StationFacts, map_rows
from linetrace.central.store.tables import events, stations
from linetrace.central.store.trace_tables import event_checks

__all__ = ["CHUNK", "facts_for", "map_events"]

# Event ids per query: well under SQLite's 32766 bound parameters and PostgreSQL's 65535,
# and a relay document holds at most a few hundred events anyway.
CHUNK = 1000
# The columns the mapping reads (and what :func:`relayable` and :func:`facts_for` need):
# the others (raw text, receipt time, frames ...) would be decoded only to be dropped.
_MAPPED = [
    events.c[name]
    for name in (
        "event_id", "site", "line", "station", "seq", "kind", "observed_at", "utc_offset_s",
        "symbology", "gtin", "serial", "lot", "sscc", "expiry", "payload",
    )
]  # fmt: skip


def map_events(connection: Connection, event_ids: Sequence[UUID]) -> list[MappedEvent]:
    """The EPCIS events of stored events ``event_ids``, in the order of the ids.

    Events that are not sent (no-reads, codes with no GS1 key) and unknown ids are left
    out; compare ``source_event_id`` to tell.
    """
    mapped: list[MappedEvent] = []
    for start in range(0, len(event_ids), CHUNK):
        chunk = list(event_ids[start : start + CHUNK])
        rows = (
            connection.execute(sa.select(*_MAPPED).where(events.c.event_id.in_(chunk)))
            .mappings()
            .all()
        )
        by_id = {row["event_id"]: cast("Mapping[str, Any]", row) for row in rows}
        ordered = [by_id[event_id] for event_id in chunk if event_id in by_id]
        mapped += map_rows(ordered, *facts_for(connection, ordered))
    return mapped


def facts_for(
    connection: Connection, rows: Sequence[Mapping[str, Any]]
) -> tuple[
    dict[tuple[str, str, str], StationFacts], dict[UUID, list[FailedCheck]], dict[UUID, Batch]
]:
    """Stations, failed checks and batches of already-read ``events`` rows."""
    if not rows:
        return {}, {}, {}
    return _stations(connection, rows), _failed(connection, rows), _batches(connection, rows)


def _stations(
    connection: Connection, rows: Iterable[Mapping[str, Any]]
) -> dict[tuple[str, str, str], StationFacts]:
    keys = sorted({(row["site"], row["line"], row["station"]) for row in rows})
    statement = sa.select(
        stations.c.site, stations.c.line, stations.c.station, stations.c.gln, stations.c.role
    )
    found = connection.execute(
        statement.where(sa.tuple_(stations.c.site, stations.c.line, stations.c.station).in_(keys))
    )
    return {(r.site, r.line, r.station): StationFacts(r.gln, r.role) for r in found}


def _failed(
    connection: Connection, rows: Sequence[Mapping[str, Any]]
) -> dict[UUID, list[FailedCheck]]:
    ids = [row["event_id"] for row in rows]
    statement = (
        sa.select(
            event_checks.c.event_id,
            event_checks.c.source,
            event_checks.c.check,
            event_checks.c.detail,
        )
        .where(event_checks.c.event_id.in_(ids))
        .order_by(event_checks.c.event_id, event_checks.c.source, event_checks.c.check)
    )
    failed: dict[UUID, list[FailedCheck]] = {}
    for row in connection.execute(statement):
        failed.setdefault(row.event_id, []).append(FailedCheck(row.source, row.check, row.detail))
    return failed


def _batches(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[UUID, Batch]:
    times = [row["observed_at"] for row in rows]
    lines = {(row["site"], row["line"]) for row in rows}
    by_line: dict[tuple[str, str], list[Batch]] = {}
    for batch in batches_overlapping(connection, lines, min(times), max(times)):
        by_line.setdefault(batch.site_line, []).append(batch)
    found: dict[UUID, Batch] = {}
    for row in rows:
        for batch in by_line.get((row["site"], row["line"]), ()):
            if batch.covers(row["observed_at"]):
                found[row["event_id"]] = batch
                break
    return found
