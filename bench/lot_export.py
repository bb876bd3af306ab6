"""A whole lot's export (CSV and EPCIS 2.0 JSON-LD) over a million stored events.

One lot of ``--events`` read events (one GTIN, one lot, serials 1..N on one registered
labelling station, inside a production batch with its order, production date and expiry:
what a real line's reads are mapped with) is written straight into a migrated database
by the database itself, as
``harness.traceset`` does: a million rows through Python would take minutes, and the
figure wanted is the export's time, not the ingest's. Then each format is streamed to a
byte counter through the same generators the API answers with, and timed; the goal is
under 10 s for 1,000,000 events. Baselines in the same run: the bare streamed read of the
lot's whole rows (what the generic path reads), and the generic path itself (every row
mapped to a dict, hashed and encoded: the export before its fast path) over the first
``--old-events`` events, its rate compared to the fast path's. The load average is printed
beside the figures (on a shared machine they move with it), and the CPU time this
process spent (the database server's, on PostgreSQL, is not in it).

    .venv/bin/python bench/lot_export.py                       # both backends, 1,000,000
    .venv/bin/python bench/lot_export.py --backend sqlite --events 200000

PostgreSQL: a throwaway database (``harness.databases``); skipped when unreachable.
"""

from __future__ import annotations

import argparse
import itertools
import os
import sys
import tempfile
import time
from collections.abc import Callable, Iterable
from datetime import UTC, date, datetime
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from harness.bulk import insert_events
from harness.databases import database
from linetrace.central.relay.epcis.documents import encode
from linetrace.central.relay.epcis.lot_export import csv_chunks, epcis_chunks, lot_pages
from linetrace.central.relay.epcis.mapping import map_rows
from linetrace.central.relay.epcis.sources import facts_for
from linetrace.central.store import events, open_engine, upgrade
from linetrace.central.store.tables import stations
from linetrace.central.store.trace_tables import batches, products

GTIN = "08938500000010"
LOT = "BENCH1"
GOAL_S = 10.0

_LOAD_POSTGRES = f"""
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT md5(n::text || random()::text)::uuid, '1.1', 'bench', 'L1', 'label-1', n, 'read',
    at, 25200, at, 'DataMatrix', ']d2', '01{GTIN}10{LOT}' || chr(29) || '21' || serial,
    '{GTIN}', serial, '{LOT}', 3,
    json_build_object('schema_version', '1.1', 'site', 'bench', 'line', 'L1',
        'station', 'label-1', 'seq', n, 'kind', 'read', 'observed_at', at,
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01{GTIN}10{LOT}' || chr(29) || '21' || serial,
        'gs1', json_build_object('01', '{GTIN}', '10', '{LOT}', '21', serial), 'frames', 3)
FROM (
    SELECT n, lpad(n::text, 8, '0') AS serial,
        timestamptz '2025-03-01 01:00:00+00' + n * interval '10 milliseconds' AS at
    FROM generate_series(1, :count) AS n
) AS generated
"""
_LOAD_SQLITE = f"""
WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < :count),
generated AS (
    SELECT n, printf('%08d', n) AS serial,
        strftime('%Y-%m-%d %H:%M:%f', '2025-03-01 01:00:00', '+' || (n * 0.01) || ' seconds')
            || '000' AS at
    FROM numbers
)
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT lower(hex(randomblob(16))), '1.1', 'bench', 'L1', 'label-1', n, 'read', at, 25200, at,
    'DataMatrix', ']d2', '01{GTIN}10{LOT}' || char(29) || '21' || serial,
    '{GTIN}', serial, '{LOT}', 3,
    json_object('schema_version', '1.1', 'site', 'bench', 'line', 'L1', 'station', 'label-1',
        'seq', n, 'kind', 'read', 'observed_at', replace(at, ' ', 'T') || '+00:00',
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01{GTIN}10{LOT}' || char(29) || '21' || serial,
        'gs1', json_object('01', '{GTIN}', '10', '{LOT}', '21', serial), 'frames', 3)
FROM generated
"""


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the lot")
    parser.add_argument(
        "--old-events", type=int, default=100_000, help="events the generic path maps (rate)"
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    worst = 0.0
    with tempfile.TemporaryDirectory() as folder:
        for kind in kinds:
            with database(kind, Path(folder), "lot-export") as url:
                if url is not None:
                    worst = max(worst, _run(kind, url, args.events, args.old_events))
    verdict = "within" if worst < GOAL_S * args.events / 1_000_000 else "OVER"
    print(f"slowest export {worst:.1f} s: {verdict} the {GOAL_S:.0f} s goal per 1,000,000 events")
    return 0


def _run(kind: str, url: str, count: int, old_count: int) -> float:
    upgrade(url)
    engine = open_engine(url)
    try:
        print(f"{kind}: loaded {count:,} events of one lot in {_load(engine, count):.1f} s")
        _timed(kind, "baseline: streamed read of the whole rows", engine, _rows_only, count)
        old_count = min(old_count, count)
        old_s = _timed(kind, "old generic path (JSON-LD)", engine, _old(old_count), old_count)
        csv_s = _timed(kind, "CSV", engine, _csv, count)
        epcis_s = _timed(kind, "EPCIS 2.0 JSON-LD", engine, _epcis, count)
        old_rate = old_count / old_s
        print(
            f"{kind}: CSV {count / csv_s / old_rate:.1f}x and JSON-LD "
            f"{count / epcis_s / old_rate:.1f}x the old path's rate; "
            f"old path for {count:,}: about {count / old_rate:.0f} s"
        )
        return max(csv_s, epcis_s)
    finally:
        engine.dispose()


def _load(engine: Engine, count: int) -> float:
    """The lot's events (``harness.bulk``) and the plant they were made in."""
    began = time.perf_counter()
    with engine.begin() as connection:
        insert_events(connection, _LOAD_POSTGRES, _LOAD_SQLITE, {"count": count})
        _plant(connection)
    return time.perf_counter() - began


def _plant(connection: sa.Connection) -> None:
    """The station, product and batch the lot's reads were made at."""
    since = datetime(2025, 3, 1, tzinfo=UTC)
    connection.execute(
        stations.insert().values(
            site="bench", line="L1", station="label-1", gln="8938500000010", role="labelling",
            registered_at=since, registered_by="cli", enabled=True,
        )
    )  # fmt: skip
    connection.execute(
        products.insert().values(
            gtin=GTIN, name="Bench product", standards=[], created_at=since, updated_at=since
        )
    )
    connection.execute(
        batches.insert().values(
            site="bench", line="L1", gtin=GTIN, lot=LOT, expiry=date(2027, 2, 28),
            production_date=date(2025, 3, 1), production_order="PO-BENCH", started_at=since,
        )
    )  # fmt: skip


def _timed(
    kind: str,
    label: str,
    engine: Engine,
    produce: Callable[[sa.Connection], tuple[int, int]],
    count: int,
) -> float:
    with engine.connect() as connection:
        began, cpu = time.perf_counter(), time.process_time()
        rows, size = produce(connection)
        took, cpu = time.perf_counter() - began, time.process_time() - cpu
    if rows != count:
        raise AssertionError(f"{label}: {rows} rows, expected {count}")
    rate = count / took
    load = ", ".join(f"{value:.1f}" for value in os.getloadavg())
    print(
        f"{kind}: {label}: {took:.2f} s, {rate:,.0f} events/s, {size / 1e6:,.0f} MB; "
        f"{cpu:.2f} s of this process's CPU (load average {load} on {os.cpu_count()} CPUs)"
    )
    return took


def _drain(chunks: Iterable[bytes]) -> int:
    return sum(len(chunk) for chunk in chunks)


def _rows_only(connection: sa.Connection) -> tuple[int, int]:
    return sum(len(page) for page in lot_pages(connection, GTIN, LOT)), 0


def _old(count: int) -> Callable[[sa.Connection], tuple[int, int]]:
    """The generic path over the lot's first ``count`` events: whole rows, ``map_rows``
    with ``facts_for``, ``encode`` per event (what the export did before its fast path)."""

    def produce(connection: sa.Connection) -> tuple[int, int]:
        rows_seen = size = 0
        for rows in itertools.islice(lot_pages(connection, GTIN, LOT), -(-count // 1000)):
            rows = rows[: count - rows_seen]
            rows_seen += len(rows)
            size += sum(len(encode(m.body)) for m in map_rows(rows, *facts_for(connection, rows)))
        return rows_seen, size

    return produce


def _csv(connection: sa.Connection) -> tuple[int, int]:
    size = _drain(csv_chunks(connection, GTIN, LOT))
    return count_lines_cached(connection), size


def _epcis(connection: sa.Connection) -> tuple[int, int]:
    counter: list[int] = []
    size = _drain(epcis_chunks(connection, GTIN, LOT, created=datetime.now(UTC), counted=counter))
    return counter[0], size


def count_lines_cached(connection: sa.Connection) -> int:
    """The lot's event count (the CSV's data rows), counted by the database."""
    return int(
        connection.execute(
            sa.select(sa.func.count()).where(events.c.gtin == GTIN, events.c.lot == LOT)
        ).scalar_one()
    )


if __name__ == "__main__":
    sys.exit(main())
