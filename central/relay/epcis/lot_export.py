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

A million events in seconds: the export reads only the columns the mapping needs, as
plain driver tuples in one sorted pass (:func:`_export_pages`; on PostgreSQL the next
rows are fetched while these are mapped, :mod:`.read_ahead`), and writes the common
event, a plain read, from a per-shape template (:mod:`.fast_events`, through
:mod:`.lot_rows`); everything else goes through the relay's generic mapping. Both give
the same bytes (tests/central/lot_report/test_export_paths.py).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterator, Sequence
from contextlib import closing
from datetime import datetime
from typing import IO, Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.relay.epcis.documents import document, encode
from linetrace.central.relay.epcis.fast_events import FIELDS
from linetrace.central.relay.epcis.lot_rows import LotRows
from linetrace.central.relay.epcis.read_ahead import BLOCK, read_ahead
from linetrace.central.relay.epcis.vocabulary import ADDED_ROLES
from linetrace.central.store.tables import events, stations
from linetrace.central.store.trace_tables import batches, containment, event_checks
from linetrace.errors import NotFound

__all__ = [
    "CSV_COLUMNS",
    "PAGE",
    "LotHasNoEvents",
    "count_lot_events",
    "csv_chunks",
    "csv_text_chunks",
    "epcis_chunks",
    "lot_pages",
    "write_csv",
    "write_epcis",
]

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


def _adding_stations(connection: Connection) -> list[tuple[str, str, str]]:
    """Stations whose reads commission codes (their events carry ILMD)."""
    statement = sa.select(stations.c.site, stations.c.line, stations.c.station).where(
        sa.func.lower(stations.c.role).in_(sorted(ADDED_ROLES))
    )
    return [(row.site, row.line, row.station) for row in connection.execute(statement)]


def _checked(
    connection: Connection, gtin: str, lot: str, where: sa.ColumnElement[bool] | None
) -> set[str]:
    """The lot's events with failed checks (``event_checks``), found in one query rather
    than probed per event."""
    statement = (
        sa.select(event_checks.c.event_id)
        .join(events, events.c.event_id == event_checks.c.event_id)
        .where(_lot_condition(connection, gtin, lot), *([where] if where is not None else []))
    )
    return {str(event_id) for event_id in connection.execute(statement).scalars()}


def count_lot_events(connection: Connection, gtin: str, lot: str) -> int:
    """How many rows :func:`lot_pages` gives: the total of a progress bar."""
    statement = sa.select(sa.func.count()).select_from(events)
    condition = _lot_condition(connection, gtin, lot)
    return int(connection.execute(statement.where(condition)).scalar_one())


def lot_pages(
    connection: Connection,
    gtin: str,
    lot: str,
    page: int = PAGE,
    *,
    where: sa.ColumnElement[bool] | None = None,
) -> Iterator[list[Any]]:
    """The lot's ``events`` rows, :data:`PAGE` at a time, oldest first.

    One query read through a server-side cursor (``stream_results``): the database sorts
    the lot once, where keyset pages would each sort what is left of it again.
    """
    statement = (
        sa.select(events)
        .where(_lot_condition(connection, gtin, lot), *([where] if where is not None else []))
        .order_by(events.c.observed_at, events.c.event_id)
    )
    # On the statement, not the connection: a connection's options stay on it (and a
    # caller's DELETE through a server-side cursor is a syntax error on PostgreSQL).
    streamed = statement.execution_options(stream_results=True, yield_per=page)
    for part in connection.execute(streamed).mappings().partitions(page):
        yield list(part)


def _export_pages(
    connection: Connection,
    gtin: str,
    lot: str,
    page: int,
    where: sa.ColumnElement[bool] | None,
) -> Iterator[Sequence[Any]]:
    """The lot's rows in the columns the export maps (:data:`~.fast_events.FIELDS`).

    Only those columns, the payload as its JSON text (decoded only for the rows the fast
    path declines; none for reads, whose one needed value comes as ``produced``), so that
    a million rows are read in one pass.
    """
    postgres = connection.dialect.name == "postgresql"
    payload = sa.cast(events.c.payload, sa.Text())
    adding = _adding_stations(connection)
    special: dict[str, sa.ColumnElement[Any]] = {
        "event_id": sa.cast(events.c.event_id, sa.Text()),
        # SQLite stores this very text; PostgreSQL writes it (a string, not a datetime).
        "observed_at": sa.func.to_char(
            sa.func.timezone("UTC", events.c.observed_at), "YYYY-MM-DD HH24:MI:SS.US"
        )
        if postgres
        else sa.type_coerce(events.c.observed_at, sa.Text()),
        # A read's mapping takes nothing from its payload but AI 11 (a production date),
        # and that only at a station that commissions codes: the database picks it out,
        # and reads' payloads stay there (sorting and sending a million of them costs
        # more than mapping the rows).
        "payload": sa.case((events.c.kind == "read", None), else_=payload),
        "produced": sa.case(
            (
                sa.and_(
                    events.c.kind == "read",
                    sa.tuple_(events.c.site, events.c.line, events.c.station).in_(adding),
                ),
                _production_date(postgres),
            ),
            else_=None,
        )
        if adding
        else sa.null(),
    }
    columns = [(special[n] if n in special else events.c[n]).label(n) for n in FIELDS]
    statement = (
        sa.select(*columns)
        .where(_lot_condition(connection, gtin, lot), *([where] if where is not None else []))
        .order_by(events.c.observed_at, events.c.event_id)
    )
    # SQLAlchemy compiles and binds; after the first page (read through SQLAlchemy, which
    # empties the row it buffers on a streamed result) the rows come straight off the
    # DBAPI cursor (a server-side one on PostgreSQL) as plain tuples: every column above
    # is one the driver already gives in the form wanted, and a Row per event costs more
    # than the rest of its reading. The export tests compare first pages of every size.
    result = connection.execute(statement.execution_options(stream_results=True))
    try:
        rows: Sequence[Any] = [tuple(row) for row in result.fetchmany(page)]
        if rows:
            yield rows
        cursor = result.cursor  # None once SQLAlchemy saw the end of the rows
        if not rows or cursor is None:
            return
        if not postgres:
            yield from iter(lambda: cursor.fetchmany(page), [])
            return
        with closing(read_ahead(lambda: cursor.fetchmany(BLOCK))) as blocks:
            for block in blocks:
                for start in range(0, len(block), page):
                    yield block[start : start + page]
    finally:
        result.close()


def _production_date(postgres: bool) -> sa.ColumnElement[Any]:
    """AI 11 of a stored payload (null without one), as the mapping takes it: the JSON is
    parsed only when its text names the AI at all, as few reads' do. SQLite gives a JSON
    string as text and a number as a number; PostgreSQL is asked for strings only."""
    text = sa.cast(events.c.payload, sa.Text())
    if postgres:
        value = events.c.payload["gs1"]["11"]
        extracted: sa.ColumnElement[Any] = sa.case(
            (sa.func.json_typeof(value) == "string", value.as_string()), else_=None
        )
        named = sa.func.strpos(text, '"11"') > 0
    else:
        extracted = sa.func.json_extract(events.c.payload, '$.gs1."11"')
        named = sa.func.instr(text, '"11"') > 0
    return sa.case((named, extracted), else_=None)


def write_epcis(
    connection: Connection,
    gtin: str,
    lot: str,
    out: IO[bytes],
    *,
    created: datetime,
    page: int = PAGE,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Write the lot as one EPCIS document to ``out``; return how many events it holds.
    ``on_page`` is told how many stored rows each page read (a progress bar)."""
    counted: list[int] = []
    chunks = epcis_chunks(
        connection, gtin, lot, created=created, page=page, counted=counted, on_page=on_page
    )
    for chunk in chunks:
        out.write(chunk)
    return counted[0]


def epcis_chunks(
    connection: Connection,
    gtin: str,
    lot: str,
    *,
    created: datetime,
    page: int = PAGE,
    counted: list[int] | None = None,
    where: sa.ColumnElement[bool] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[bytes]:
    """The lot as one EPCIS document, one chunk per page of events: what an HTTP answer
    streams. Raises LotHasNoEvents before the first chunk when the lot has none; appends
    the event count to ``counted`` once the last chunk is out. ``where``: only the events
    it keeps (a scoped principal's sites and lines)."""
    head, _, tail = encode(document([], created=created)).partition(_MARK)
    written = 0
    mapping = LotRows(connection, _checked(connection, gtin, lot, where))
    for rows in _export_pages(connection, gtin, lot, page, where):
        bodies = mapping.epcis(rows)
        if on_page is not None:
            on_page(len(rows))
        if not bodies:
            continue
        opening = (head + b'"eventList":[') if written == 0 else b","
        written += len(bodies)
        yield opening + ",".join(bodies).encode()
    if written == 0:
        raise LotHasNoEvents(f"no event sent in EPCIS belongs to lot {lot} of GTIN {gtin}")
    yield b"]" + tail
    if counted is not None:
        counted.append(written)


def write_csv(
    connection: Connection,
    gtin: str,
    lot: str,
    out: IO[str],
    *,
    page: int = PAGE,
    on_page: Callable[[int], None] | None = None,
) -> int:
    """Write the lot as CSV (one row per event, :data:`CSV_COLUMNS`); return the row count."""
    counted: list[int] = []
    chunks = csv_text_chunks(connection, gtin, lot, page=page, counted=counted, on_page=on_page)
    for chunk in chunks:
        out.write(chunk)
    return counted[0]


def csv_chunks(
    connection: Connection,
    gtin: str,
    lot: str,
    *,
    page: int = PAGE,
    where: sa.ColumnElement[bool] | None = None,
) -> Iterator[bytes]:
    """The lot as UTF-8 CSV, one chunk per page of events: what an HTTP answer streams."""
    for chunk in csv_text_chunks(connection, gtin, lot, page=page, where=where):
        yield chunk.encode()


def csv_text_chunks(
    connection: Connection,
    gtin: str,
    lot: str,
    *,
    page: int = PAGE,
    counted: list[int] | None = None,
    where: sa.ColumnElement[bool] | None = None,
    on_page: Callable[[int], None] | None = None,
) -> Iterator[str]:
    """The lot as CSV text, the header then one chunk per page; LotHasNoEvents before the
    first chunk when the lot has none; the row count appended to ``counted`` at the end."""
    buffer = io.StringIO()
    csv.writer(buffer).writerow(CSV_COLUMNS)
    header = buffer.getvalue()
    written = 0
    mapping = LotRows(connection, _checked(connection, gtin, lot, where))
    for rows in _export_pages(connection, gtin, lot, page, where):
        text = mapping.csv(rows)
        written += len(rows)
        if on_page is not None:
            on_page(len(rows))
        yield header + text if written == len(rows) else text
    if written == 0:
        raise LotHasNoEvents(f"no event belongs to lot {lot} of GTIN {gtin}")
    if counted is not None:
        counted.append(written)
