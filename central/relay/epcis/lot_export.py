"""A lot's events for an inspector: one EPCIS document, or CSV, written page by page.

Vietnam's Ministry of Industry and Trade asks for a lot's data within 24 hours of a
request; ``linetrace central export --lot GTIN/LOT`` writes it from central's database.
A lot's events are:

- the reads whose code carries the lot (GTIN + lot);
- the reads of the GTIN whose code carries no lot, seen on a line while a batch of that
  lot ran there (a GTIN + serial label without AI 10);
- the pack events that put the lot's items into cases (``containment``).

No-reads are not part of a lot (they name no code). Events come in (observed_at,
event_id) order, read :data:`PAGE` at a time, so a lot of a million events is never held
in memory: the EPCIS document is written as one document (every event of the lot, the
same bytes :func:`~.documents.encode` gives for it) by streaming its event list, and
the CSV one row per event.
"""

from __future__ import annotations

import csv
from collections.abc import Iterator, Mapping, Sequence
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.relay.epcis.documents import document, encode
from linetrace.central.relay.epcis.mapping import MappedEvent, event_time, map_rows
from linetrace.central.relay.epcis.sources import facts_for
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import batches, containment
from linetrace.errors import NotFound

__all__ = ["CSV_COLUMNS", "PAGE", "LotHasNoEvents", "lot_pages", "write_csv", "write_epcis"]

# Events per page: one query per table per page, and a page's rows and mapped events are
# a few megabytes at most.
PAGE = 1000
CSV_COLUMNS = (
    "event_time", "station", "kind", "gtin", "lot", "serial", "sscc", "children",
    "check_outcome", "epcis_event_id", "event_id",
)  # fmt: skip
_MARK = b'"eventList":[]'


class LotHasNoEvents(NotFound):
    """No stored event belongs to the lot."""


def _lot_condition(connection: Connection, gtin: str, lot: str) -> sa.ColumnElement[bool]:
    windows = [
        sa.and_(
            events.c.site == row.site,
            events.c.line == row.line,
            events.c.observed_at >= row.started_at,
            *([events.c.observed_at < row.closed_at] if row.closed_at is not None else []),
        )
        for row in connection.execute(
            sa.select(
                batches.c.site, batches.c.line, batches.c.started_at, batches.c.closed_at
            ).where(batches.c.gtin == gtin, batches.c.lot == lot)
        )
    ]
    packs = sa.select(containment.c.packed_event_id).where(
        containment.c.child_gtin == gtin, containment.c.child_lot == lot
    )
    branches = [sa.and_(events.c.gtin == gtin, events.c.lot == lot), events.c.event_id.in_(packs)]
    if windows:
        branches.append(
            sa.and_(
                events.c.gtin == gtin,
                events.c.lot.is_(None),
                events.c.kind == "read",
                sa.or_(*windows),
            )
        )
    return sa.or_(*branches)


def lot_pages(connection: Connection, gtin: str, lot: str, page: int = PAGE) -> Iterator[list[Any]]:
    """The lot's ``events`` rows, :data:`PAGE` at a time (keyset pages, oldest first)."""
    condition = _lot_condition(connection, gtin, lot)
    after: tuple[datetime, Any] | None = None
    while True:
        statement = sa.select(events).where(condition)
        if after is not None:
            statement = statement.where(
                sa.tuple_(events.c.observed_at, events.c.event_id) > sa.tuple_(*after)
            )
        rows = list(
            connection.execute(
                statement.order_by(events.c.observed_at, events.c.event_id).limit(page)
            ).mappings()
        )
        if not rows:
            return
        yield rows
        after = (rows[-1]["observed_at"], rows[-1]["event_id"])


def _mapped(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> list[MappedEvent]:
    return map_rows(rows, *facts_for(connection, rows))


def write_epcis(
    connection: Connection,
    gtin: str,
    lot: str,
    out: IO[bytes],
    *,
    created: datetime,
    page: int = PAGE,
) -> int:
    """Write the lot as one EPCIS document to ``out``; return how many events it holds."""
    head, _, tail = encode(document([], created=created)).partition(_MARK)
    written = 0
    for rows in lot_pages(connection, gtin, lot, page):
        for event in _mapped(connection, rows):
            out.write((head + b'"eventList":[') if written == 0 else b",")
            out.write(encode(event.body))
            written += 1
    if written == 0:
        raise LotHasNoEvents(f"no event sent in EPCIS belongs to lot {lot} of GTIN {gtin}")
    out.write(b"]" + tail)
    return written


def _checks(row: Mapping[str, Any], failed: Mapping[Any, Any]) -> str:
    found = failed.get(row["event_id"], [])
    if not found:
        return "passed"
    return "failed: " + "; ".join(f"{f.source}/{f.check}: {f.detail}" for f in found)


def write_csv(
    connection: Connection, gtin: str, lot: str, out: IO[str], *, page: int = PAGE
) -> int:
    """Write the lot as CSV (one row per event, :data:`CSV_COLUMNS`); return the row count."""
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    written = 0
    for rows in lot_pages(connection, gtin, lot, page):
        stations, failed, batch_of = facts_for(connection, rows)
        ids = {
            m.source_event_id: m.epcis_event_id for m in map_rows(rows, stations, failed, batch_of)
        }
        for row in rows:
            children = row["payload"].get("children") if row["kind"] == "pack" else None
            writer.writerow(
                (
                    event_time(row["observed_at"], row["utc_offset_s"])[0],
                    f"{row['site']}/{row['line']}/{row['station']}",
                    row["kind"],
                    row["gtin"] or "",
                    row["lot"] or "",
                    row["serial"] or "",
                    row["sscc"] or "",
                    "" if children is None else len(children),
                    _checks(row, failed),
                    ids.get(row["event_id"], ""),
                    str(row["event_id"]),
                )
            )
            written += 1
    if written == 0:
        raise LotHasNoEvents(f"no event belongs to lot {lot} of GTIN {gtin}")
    return written
