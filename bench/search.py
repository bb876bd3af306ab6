"""The auditors' search over a million stored events, on SQLite and PostgreSQL.

A plant of two sites, four lines and eight stations is bulk-loaded into a migrated
database (``harness.searchset``). Each search of the search page (every filter alone and a
few together, time and seq order, a deep page) is timed as the API runs it: one page of
50 with its capped total. The baseline, in the same run, is the same searches with the
search indexes of migration 0012 dropped.

    .venv/bin/python bench/search.py                       # both backends, 1,000,000 events
    .venv/bin/python bench/search.py --backend sqlite --events 200000
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy.engine import Engine

from harness.databases import postgres_admin_url, throwaway_postgres
from harness.events import GTINS
from harness.searchset import LOT_SIZE, bulk_load_plant
from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.central.query.search import Direction, EventSearch, Order, search_events
from linetrace.central.store import open_engine, upgrade
from linetrace.central.store.search_indexes import SEARCH_INDEXES

PAGE = 50
GOAL_MS = 1000.0
START = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


def searches(count: int) -> dict[str, EventSearch]:
    """The searches timed: each filter of the page alone, then a few together."""
    middle = START + timedelta(seconds=count * 0.01 / 2)
    since, until = middle, middle + timedelta(hours=1)
    lot = f"S{count // LOT_SIZE // 2:05d}"
    station = StationId("hn1", "L2", "pack")
    n = count // 2 + 1  # a read: n % 24 != 5, n % 200 != 7 (count is even)
    return {
        "everything, newest first": EventSearch(limit=PAGE),
        "everything, oldest first": EventSearch(limit=PAGE, direction=Direction.ASC),
        "one hour": EventSearch(limit=PAGE, since=since, until=until),
        "site": EventSearch(limit=PAGE, site="hn1"),
        "site and line": EventSearch(limit=PAGE, site="hn1", line="L2"),
        "station": EventSearch(limit=PAGE, station=station),
        "station seq range, by seq": EventSearch(
            limit=PAGE, station=station, seq_from=count // 32, seq_to=count // 16,
            order=Order.SEQ, direction=Direction.ASC,
        ),
        "everything, by seq": EventSearch(limit=PAGE, order=Order.SEQ),
        "gtin": EventSearch(limit=PAGE, gtin=GTINS[1]),
        "lot": EventSearch(limit=PAGE, lot=lot),
        "serial": EventSearch(limit=PAGE, serial=f"{n:09d}"),
        "sscc": EventSearch(limit=PAGE, sscc=f"0{count // 48 * 24 + 5:017d}"),
        "code (any key)": EventSearch(limit=PAGE, code=f"{n:09d}"),
        "kind noread": EventSearch(limit=PAGE, kind=EventKind.NOREAD),
        "kind pack, by seq": EventSearch(limit=PAGE, kind=EventKind.PACK, order=Order.SEQ),
        "site, noread, one hour": EventSearch(
            limit=PAGE, site="hn1", kind=EventKind.NOREAD, since=since, until=until
        ),
        "gtin, one hour": EventSearch(limit=PAGE, gtin=GTINS[2], since=since, until=until),
        "lot, line": EventSearch(limit=PAGE, lot=lot, site="hcm1", line="L1"),
        "lot, reads, one hour": EventSearch(limit=PAGE, lot=lot, kind=EventKind.READ, since=since, until=until),
        "gtin, lot, oldest first": EventSearch(
            limit=PAGE, gtin=GTINS[0], lot=lot, direction=Direction.ASC
        ),
    }  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="both")
    parser.add_argument("--events", type=int, default=1_000_000, help="events to store")
    parser.add_argument("--repeat", type=int, default=7, help="timed runs per search")
    args = parser.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    for backend in backends:
        with _database(backend) as url:
            _run(backend, url, args.events - args.events % 2, args.repeat)
    return 0


def _run(backend: str, url: str, count: int, repeat: int) -> None:
    upgrade(url)
    engine = open_engine(url)
    try:
        loaded_s = bulk_load_plant(engine, count)
        print(f"{backend}: stored {count:,} events in {loaded_s:.0f} s")
        timed = searches(count)
        with_indexes = {name: _time(engine, search, repeat) for name, search in timed.items()}
        with engine.begin() as connection:
            for index in SEARCH_INDEXES:
                index.drop(connection)
        baseline = {
            name: _time(engine, search, max(1, repeat // 3)) for name, search in timed.items()
        }
        with engine.begin() as connection:
            for index in SEARCH_INDEXES:
                index.create(connection)
        deep_ms = _deep_page(engine, pages=40)
    finally:
        engine.dispose()
    print(f"{backend}: {'search (page of 50 + total)':<34} {'p50 ms':>9} {'max ms':>9} "
          f"{'no 0012 p50':>12} {'total':>8}")  # fmt: skip
    worst = 0.0
    for name, (p50, most, total) in with_indexes.items():
        base = baseline[name][0]
        worst = max(worst, most)
        print(f"{backend}: {name:<34} {p50:9.1f} {most:9.1f} {base:12.1f} {total:>8}")
    print(f"{backend}: page 40 of 'everything' by cursor: {deep_ms:.1f} ms")
    verdict = "within" if max(worst, deep_ms) < GOAL_MS else "OVER"
    print(f"{backend}: slowest search {worst:.0f} ms: {verdict} the {GOAL_MS:.0f} ms goal")


def _time(engine: Engine, search: EventSearch, repeat: int) -> tuple[float, float, str]:
    times = []
    with engine.connect() as connection:
        page = search_events(connection, search)  # warm, as a running service is
        if not page.events:
            raise AssertionError(f"{search}: found nothing")
        for _ in range(repeat):
            began = time.perf_counter()
            search_events(connection, search)
            times.append((time.perf_counter() - began) * 1000)
    total = f"{page.total:,}" if page.total_exact else f">{page.total:,}"
    return statistics.median(times), max(times), total


def _deep_page(engine: Engine, pages: int) -> float:
    """The time of the last of ``pages`` pages walked by cursor (each with its total)."""
    cursor: str | None = None
    elapsed = 0.0
    with engine.connect() as connection:
        for _ in range(pages):
            began = time.perf_counter()
            page = search_events(connection, EventSearch(limit=PAGE, cursor=cursor))
            elapsed = (time.perf_counter() - began) * 1000
            cursor = page.next_cursor
    return elapsed


@contextmanager
def _database(backend: str) -> Iterator[str]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as folder:
            yield f"sqlite:///{Path(folder) / 'bench.db'}"
        return
    with throwaway_postgres(postgres_admin_url()) as url:
        yield url


if __name__ == "__main__":
    sys.exit(main())
