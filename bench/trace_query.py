"""Lot and code trace times over a million stored events, on SQLite and PostgreSQL.

A plant of a few lines is written straight into a migrated database (``harness.plant``).
Then the two traces are timed on random lots and items, p50 and p99 over repeated
queries, next to two baselines in the same run: the lot's counts aggregated from its stored reads and stays
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
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa

from harness.databases import throwaway_postgres
from harness.plant import (
    INGEST_BATCH,
    ITEMS_PER_CASE,
    ITEMS_PER_LOT,
    LINES,
    Lot,
    ingest_cost,
    load_plant,
    settle,
)
from linetrace.central.query.code_trace import trace_code
from linetrace.central.query.lot_trace import trace_lot
from linetrace.central.store import events, open_engine, upgrade
from linetrace.central.store.trace_tables import containment

# Untimed queries first: a running service has its caches and statement cache warm.
WARM_UP = 5


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
        lots, stored = load_plant(engine, wanted_events)
        loaded_s = time.perf_counter() - started
        settle(engine)
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
        summaries_us, insert_us = ingest_cost(engine, len(lots))
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
    assert items == ITEMS_PER_LOT
    assert len(per_container) == ITEMS_PER_LOT // ITEMS_PER_CASE


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
    with throwaway_postgres(admin_url) as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())
