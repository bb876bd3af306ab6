"""Lot and code trace times over a million stored events, on SQLite and PostgreSQL.

A plant of a few lines is written straight into a migrated database with Core inserts
(no broker, no ingest): every item read at two check stations, packed 24 to a case and
40 cases to a pallet (pack events and containment rows), a few no-reads and mismatches,
one batch per lot. Each chunk's lot summaries are kept by the ingest's own function
(``record_lot_summaries``), in the transaction that stores the chunk. Then the two traces
are timed on random lots and items, p50 and p99 over repeated queries, next to two
baselines in the same run: the lot's counts aggregated from its stored reads and stays
(what the summaries save each trace), and the lot trace's main aggregate forced to scan
the events table (``lot || ''`` defeats every index). Last, one more lot is stored in
batches of 500 events, as the ingest stores them, timing the summaries' share per event.

    .venv/bin/python bench/trace_query.py                      # both backends, 1,000,000 events
    .venv/bin/python bench/trace_query.py --backend sqlite --events 200000

PostgreSQL: a throwaway database is created through ``--postgres-admin-url`` (default: the
tests' ``LINETRACE_TEST_DATABASE_URL``) and dropped afterwards.
"""

from __future__ import annotations

import argparse
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import psycopg
import sqlalchemy as sa
from sqlalchemy.engine import Engine, make_url

from linetrace.central.checkdigits import mod10_check_digit
from linetrace.central.lotsummary import record_lot_summaries
from linetrace.central.store import events, insert_events, open_engine, upgrade
from linetrace.central.store.tables import station_progress
from linetrace.central.store.trace_tables import batches, containment, event_checks, products
from linetrace.central.traces import trace_code, trace_lot

# A lot is a shift of one line: 9,600 items (ten full pallets) at about three a second.
ITEMS_PER_LOT = 9_600
ITEMS_PER_CASE = 24
CASES_PER_PALLET = 40
LINES = 4
# One read in two hundred is a no-read, one in two hundred fails a check: a line that
# works, with enough of both for the lot trace's no-read and mismatch parts to have data.
NOREAD_EVERY = 200
MISMATCH_EVERY = 200
ITEM_INTERVAL = timedelta(milliseconds=350)
# Rows per insert statement batch: big enough that per-statement overhead vanishes,
# small enough to keep the generated rows of one chunk in a few megabytes.
CHUNK = 5000
# Untimed queries first: a running service has its caches and statement cache warm.
WARM_UP = 5
# The ingest's default batch size: the unit the summaries' cost per event is measured in.
INGEST_BATCH = 500
HCM = timezone(timedelta(hours=7))
SITE = "bench"


@dataclass(frozen=True, slots=True)
class Lot:
    number: int
    line: str
    gtin: str
    lot: str
    started_at: datetime
    closed_at: datetime


@dataclass(frozen=True, slots=True)
class Timing:
    p50_ms: float
    p99_ms: float
    runs: int


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to store")
    parser.add_argument("--repeat", type=int, default=50, help="timed queries per trace kind")
    parser.add_argument(
        "--postgres-admin-url",
        default=os.environ.get(
            "LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
        help="a role that may create databases",
    )
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with _database(backend, args.postgres_admin_url) as url:
            _run(backend, url, args.events, args.repeat)
    return 0


def _run(backend: str, url: str, wanted_events: int, repeat: int) -> None:
    upgrade(url)
    engine = open_engine(url)
    try:
        started = time.perf_counter()
        lots, stored = _load(engine, wanted_events)
        loaded_s = time.perf_counter() - started
        _settle(engine)
        print(
            f"{backend}: stored {stored:,} events ({len(lots)} lots of {ITEMS_PER_LOT:,} items "
            f"on {LINES} lines) in {loaded_s:.0f} s"
        )
        rng = random.Random(7)
        with engine.connect() as connection:
            lot_trace = _time(repeat, lambda: _trace_a_lot(connection, rng.choice(lots)))
            code_trace = _time(repeat, lambda: _trace_an_item(connection, rng.choice(lots), rng))
            few = max(3, repeat // 10)
            counted = _time(few, lambda: _count_a_lot(connection, rng.choice(lots)))
            scan = _time(few, lambda: _scan_a_lot(connection, rng.choice(lots)))
        summaries_us, insert_us = _ingest_cost(engine, len(lots))
        _report(backend, "lot trace", lot_trace)
        _report(backend, "code trace", code_trace)
        _report(backend, "baseline: lot counts from events, stays", counted)
        _report(backend, "baseline: lot aggregate by full scan", scan)
        print(
            f"{backend}: counting a lot from its events and stays alone takes "
            f"{counted.p50_ms / lot_trace.p50_ms:.1f}x the whole trace on its summaries (p50); "
            f"a full scan of the lot's reads alone takes {scan.p50_ms / lot_trace.p50_ms:.1f}x; "
            f"p99 {lot_trace.p99_ms:.1f} ms is {'within' if lot_trace.p99_ms <= 50 else 'OVER'} "
            "the 50 ms goal"
        )
        print(
            f"{backend}: keeping the lot summaries costs {summaries_us:.1f} us per event in "
            f"batches of {INGEST_BATCH} ({summaries_us / insert_us:.0%} of the events' own "
            f"insert, {insert_us:.1f} us per event)"
        )
    finally:
        engine.dispose()


# --- the plant -----------------------------------------------------------------------------


def _load(engine: Engine, wanted_events: int) -> tuple[list[Lot], int]:
    events_per_lot = ITEMS_PER_LOT * 2 + ITEMS_PER_LOT // NOREAD_EVERY
    events_per_lot += ITEMS_PER_LOT // ITEMS_PER_CASE + ITEMS_PER_LOT // (
        ITEMS_PER_CASE * CASES_PER_PALLET
    )
    count = max(1, wanted_events // events_per_lot)
    gtins = [_gtin(n) for n in range(LINES)]
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(
            products.insert(),
            [
                {"gtin": g, "name": f"Product {g}", "standards": [], "created_at": now,
                 "updated_at": now}
                for g in gtins
            ],
        )  # fmt: skip
    seqs: dict[str, int] = {}
    lots = []
    stored = 0
    start = datetime(2025, 3, 1, 6, 0, tzinfo=HCM)
    for number in range(count):
        line = f"L{number % LINES + 1}"
        began = start + (number // LINES) * ITEM_INTERVAL * (ITEMS_PER_LOT + 100)
        lot = Lot(
            number, line, gtins[number % LINES], f"LOT{number:05d}", began,
            began + ITEM_INTERVAL * (ITEMS_PER_LOT + 50),
        )  # fmt: skip
        stored += _load_lot(engine, lot, seqs)
        lots.append(lot)
    with engine.begin() as connection:
        connection.execute(
            station_progress.insert(),
            [
                {"site": SITE, "line": name.split("/")[0], "station": name.split("/")[1],
                 "watermark": seq, "max_seq_seen": seq, "behind_since": None,
                 "updated_at": datetime.now(UTC)}
                for name, seq in seqs.items()
            ],
        )  # fmt: skip
    return lots, stored


def _load_lot(engine: Engine, lot: Lot, seqs: dict[str, int]) -> int:
    with engine.begin() as connection:
        batch_id = connection.execute(
            batches.insert()
            .values(
                site=SITE, line=lot.line, gtin=lot.gtin, lot=lot.lot,
                expiry=date(2027, 1, 1), started_at=lot.started_at, closed_at=lot.closed_at,
            )
            .returning(batches.c.id)
        ).scalar_one()  # fmt: skip
    stored = 0
    for first in range(0, ITEMS_PER_LOT, CHUNK):
        rows, stays, failed = _chunk(
            lot, batch_id, range(first, min(first + CHUNK, ITEMS_PER_LOT)), seqs
        )
        with engine.begin() as connection:
            connection.execute(events.insert(), rows)
            if stays:
                connection.execute(containment.insert(), stays)
            if failed:
                connection.execute(event_checks.insert(), failed)
            record_lot_summaries(connection, rows)
        stored += len(rows)
    return stored


def _ingest_cost(engine: Engine, number: int) -> tuple[float, float]:
    """One more lot stored as the ingest stores it: microseconds per event for the lot
    summaries and, to compare, for the events' own idempotent insert.

    The lot's stays are stored first, untimed: the ingest's containment step is not part
    of the summaries' cost, and the recount of a pack's parent finds its children as it
    would after that step.
    """
    line = f"L{number % LINES + 1}"
    began = datetime(2025, 3, 1, 6, 0, tzinfo=HCM) + timedelta(days=365)
    lot = Lot(
        number, line, _gtin(number % LINES), f"LOT{number:05d}", began,
        began + ITEM_INTERVAL * (ITEMS_PER_LOT + 50),
    )  # fmt: skip
    rows, stays, _ = _chunk(lot, 0, range(ITEMS_PER_LOT), {})
    rows.sort(key=lambda row: row["observed_at"])
    with engine.begin() as connection:
        connection.execute(containment.insert(), stays)
    summaries_s = insert_s = 0.0
    for first in range(0, len(rows), INGEST_BATCH):
        batch = rows[first : first + INGEST_BATCH]
        with engine.begin() as connection:
            started = time.perf_counter()
            insert_events(connection, batch)
            inserted = time.perf_counter()
            record_lot_summaries(connection, batch)
            summaries_s += time.perf_counter() - inserted
            insert_s += inserted - started
    return summaries_s / len(rows) * 1e6, insert_s / len(rows) * 1e6


def _chunk(
    lot: Lot, batch_id: int, numbers: range, seqs: dict[str, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    stays: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for n in numbers:
        at = lot.started_at + n * ITEM_INTERVAL
        serial = f"{lot.number:05d}{n:06d}"
        gs1 = {"01": lot.gtin, "10": lot.lot, "21": serial}
        for station, delay in (("check-1", 0.0), ("check-2", 2.0)):
            row = _event(lot, station, seqs, at + timedelta(seconds=delay), "read", gs1)
            rows.append(row)
            if n % MISMATCH_EVERY == 7 and station == "check-1":
                failed.append(_failure(row, batch_id))
        if n % NOREAD_EVERY == 3:
            rows.append(_event(lot, "check-1", seqs, at + timedelta(seconds=1), "noread", None))
        case = _sscc(lot.number, n // ITEMS_PER_CASE)
        stays.append(_stay(f"(00){case}", f"(01){lot.gtin}(21){serial}", lot, at, lot.gtin))
        if n % ITEMS_PER_CASE == ITEMS_PER_CASE - 1:
            rows.append(
                _event(lot, "case-1", seqs, at + timedelta(seconds=5), "pack", {"00": case})
            )
            case_number = n // ITEMS_PER_CASE
            pallet = _sscc(lot.number, 900_000 + case_number // CASES_PER_PALLET)
            stays.append(_stay(f"(00){pallet}", f"(00){case}", lot, at, None))
            if case_number % CASES_PER_PALLET == CASES_PER_PALLET - 1:
                rows.append(
                    _event(lot, "pallet-1", seqs, at + timedelta(seconds=9), "pack", {"00": pallet})
                )
    return rows, stays, failed


def _event(
    lot: Lot,
    station: str,
    seqs: dict[str, int],
    at: datetime,
    kind: str,
    gs1: dict[str, str] | None,
) -> dict[str, Any]:
    name = f"{lot.line}/{station}"
    seqs[name] = seq = seqs.get(name, 0) + 1
    text = None if gs1 is None else "".join(f"{ai}{value}" for ai, value in gs1.items())
    event_id = _uuid7(at)
    return {
        "event_id": event_id, "schema_version": "1.1", "site": SITE, "line": lot.line,
        "station": station, "seq": seq, "kind": kind, "observed_at": at,
        "utc_offset_s": 7 * 3600, "received_at": at + timedelta(milliseconds=40),
        "symbology": None if gs1 is None else "DataMatrix",
        "symbology_id": None if gs1 is None else "]d2", "text": text,
        "gtin": (gs1 or {}).get("01"), "serial": (gs1 or {}).get("21"),
        "lot": (gs1 or {}).get("10"), "sscc": (gs1 or {}).get("00"), "expiry": None,
        "frames": 3,
        "payload": {"schema_version": "1.1", "event_id": str(event_id), "site": SITE,
                    "line": lot.line, "station": station, "seq": seq, "kind": kind,
                    "observed_at": at.isoformat(), "text": text, "gs1": gs1, "frames": 3},
    }  # fmt: skip


def _stay(parent: str, child: str, lot: Lot, at: datetime, gtin: str | None) -> dict[str, Any]:
    return {
        "parent_code": parent, "child_code": child, "child_gtin": gtin,
        "child_lot": lot.lot if gtin else None, "packed_at": at,
        "packed_event_id": _uuid7(at), "site": SITE, "line": lot.line, "station": "case-1",
        "unpacked_at": None, "unpacked_event_id": None,
    }  # fmt: skip


def _failure(row: dict[str, Any], batch_id: int) -> dict[str, Any]:
    return {
        "event_id": row["event_id"], "source": "central", "check": "lot",
        "detail": "lot LOTX is not the batch's", "batch_id": batch_id, "site": SITE,
        "line": row["line"], "station": row["station"], "observed_at": row["observed_at"],
        "gtin": row["gtin"], "lot": row["lot"], "code": row["text"],
    }  # fmt: skip


def _gtin(number: int) -> str:
    body = f"0893850000{number:03d}"
    return body + str(mod10_check_digit(body))


def _sscc(lot_number: int, case_number: int) -> str:
    body = f"0893850{lot_number:04d}{case_number:06d}"
    return body + str(mod10_check_digit(body))


def _uuid7(at: datetime) -> uuid.UUID:
    millis = int(at.timestamp() * 1000)
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    return uuid.UUID(int=(millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b)


def _settle(engine: Engine) -> None:
    """Statistics (and PostgreSQL's visibility map) as a running database keeps them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("VACUUM ANALYZE"))
        else:
            connection.execute(sa.text("ANALYZE"))


# --- the queries ---------------------------------------------------------------------------


def _trace_a_lot(connection: sa.Connection, lot: Lot) -> None:
    trace = trace_lot(connection, lot.lot, lot.gtin)
    assert trace.items.count == ITEMS_PER_LOT, trace.items.count
    assert [(s.reads, s.items) for s in trace.stations] == [(ITEMS_PER_LOT, ITEMS_PER_LOT)] * 2
    assert len(trace.containers) == ITEMS_PER_LOT // ITEMS_PER_CASE, len(trace.containers)


def _trace_an_item(connection: sa.Connection, lot: Lot, rng: random.Random) -> None:
    serial = f"{lot.number:05d}{rng.randrange(ITEMS_PER_LOT):06d}"
    trace = trace_code(connection, f"(01){lot.gtin}(21){serial}")
    assert len(trace.containers) == 2, trace.containers


def _count_a_lot(connection: sa.Connection, lot: Lot) -> None:
    """The counts the lot summaries keep, aggregated from the lot's reads and stays instead."""
    of_lot = [events.c.lot == lot.lot, events.c.gtin == lot.gtin, events.c.kind == "read"]
    per_station = connection.execute(
        sa.select(
            events.c.station, sa.func.count(), sa.func.count(sa.distinct(events.c.serial)),
            sa.func.min(events.c.observed_at), sa.func.max(events.c.observed_at),
        )
        .where(*of_lot)
        .group_by(events.c.station)
    ).all()  # fmt: skip
    distinct = sa.select(events.c.serial).where(*of_lot).distinct().subquery()
    items = connection.execute(sa.select(sa.func.count()).select_from(distinct)).scalar_one()
    per_container = connection.execute(
        sa.select(containment.c.parent_code, sa.func.count(sa.distinct(containment.c.child_code)))
        .where(containment.c.child_lot == lot.lot, containment.c.child_gtin == lot.gtin)
        .group_by(containment.c.parent_code)
    ).all()
    assert sum(reads for _, reads, *_ in per_station) == 2 * ITEMS_PER_LOT
    assert items == ITEMS_PER_LOT and len(per_container) == ITEMS_PER_LOT // ITEMS_PER_CASE


def _scan_a_lot(connection: sa.Connection, lot: Lot) -> None:
    """The lot trace's per-station aggregate, with the lot index made unusable."""
    scanned = connection.execute(
        sa.select(events.c.station, sa.func.count(), sa.func.min(events.c.observed_at))
        .where((events.c.lot + "") == lot.lot, events.c.kind == "read")
        .group_by(events.c.station)
    ).all()
    assert sum(count for _, count, _ in scanned) == 2 * ITEMS_PER_LOT


def _time(runs: int, query: Callable[[], None]) -> Timing:
    for _ in range(WARM_UP):  # the caches a running service has warm
        query()
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        query()
        times.append((time.perf_counter() - started) * 1000)
    percentiles = statistics.quantiles(times, n=100, method="inclusive")
    return Timing(statistics.median(times), percentiles[98], runs)


def _report(backend: str, name: str, timing: Timing) -> None:
    print(
        f"{backend}: {name:<40} p50 {timing.p50_ms:8.2f} ms   p99 {timing.p99_ms:8.2f} ms"
        f"   ({timing.runs} runs)"
    )


@contextmanager
def _database(backend: str, admin_url: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    admin = make_url(admin_url)
    libpq = admin.set(drivername="postgresql").render_as_string(hide_password=False)
    name = f"linetrace_bench_{secrets.token_hex(4)}"
    with psycopg.connect(libpq, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
