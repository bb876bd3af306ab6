"""Soak: broker, central and stations for a long run; memory, latency drift, lost and doubled.

Run: ``python bench/soak.py --duration 1800 --rate 200 [--stations 8] [--publishers 1]
[--sample 60] [--database-url URL] [--workdir DIR]``. It starts a real Mosquitto with
the project's generated configuration on a free port, central as the real service
(``linetrace central run`` in its own process, with its receiver child; SQLite in the
work folder unless ``--database-url`` names another database, e.g. an empty PostgreSQL
one), and the stations in publisher processes: each station on its own MQTT v5
connection with its own credentials, publishing pre-encoded contract events at its share
of ``--rate`` and keeping at most as many unacknowledged as an edge does (see
bench/harness/soak_stations.py).

Every ``--sample`` seconds it prints one line: events published and confirmed in the
window, the latency from an event falling due at its station to central's ack watermark
covering it (p50, p99, max), central's writer queue and stored count (from its
``/metrics``), and the resident memory of central, its children, the broker and the
publishers. At the end: a drain line (what central confirmed after the stations
stopped), then the summary with the ratios that show drift (memory of the first window
to the last, p50 and p99 latency of the first window to the last), and the check of
central's database: every published (station, seq) stored once. Events lost (published,
not stored) or doubled (stored more than once) make the exit status 1, as does a drain
that does not finish or a central that does not stop cleanly.

The publishers, the broker and central share the machine's cores; the load average is
printed with each line, since anything else running on the machine shows in the
latencies.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import psutil
import sqlalchemy as sa

from harness.broker import BenchBroker, running_broker
from harness.central_service import CentralService, Scrape
from harness.figures import load_average, percentile
from harness.publishers import receive
from harness.soak_stations import DRAIN, FinalReport, SoakPlan, WindowReport, soak_publisher_main
from linetrace.central.store import events, open_engine

MB = 1024 * 1024
# A window's reports come at its end; a publisher that says nothing for this long beyond
# it has failed.
REPORT_GRACE_S = 60.0
PARTIES = ("central", "children", "broker", "publishers")


@dataclass
class Window:
    index: int
    seconds: float  # since the start
    published: int
    confirmed: int
    latencies: list[float]
    waiting: int
    unconfirmed: int
    rss: dict[str, float]  # party -> MB
    stored: float
    queued: float

    def p(self, fraction: float) -> float | None:
        return percentile(self.latencies, fraction) * 1000 if self.latencies else None


@dataclass
class Run:
    windows: list[Window] = field(default_factory=list)
    drain: Window | None = None
    finals: list[FinalReport] = field(default_factory=list)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    print(f"cores: {os.cpu_count()}, load average at start: {load_average()}")
    print(
        f"duration {args.duration:g} s at {args.rate:,.0f} events/s over {args.stations} "
        f"stations in {args.publishers} publisher process(es); a line every {args.sample:g} s"
    )
    with _workdir(args.workdir) as folder, running_broker(folder, args.stations) as broker:
        url = args.database_url or f"sqlite:///{folder / 'central.db'}"
        central = CentralService(folder / "central", broker, url)
        try:
            central.wait_ready()
            run = _soak(args, broker, central)
        finally:
            status = central.stop()
        print(f"central stopped with status {status}")
        if status != 0:
            print(central.log.read_text()[-4000:])
        return _summary(args, run, url, status)


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of load")
    parser.add_argument("--rate", type=float, default=200.0, help="events/s over all stations")
    parser.add_argument("--stations", type=int, default=8, help="simulated stations")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    parser.add_argument("--sample", type=float, default=10.0, help="seconds per line")
    parser.add_argument("--drain", type=float, default=120.0, help="seconds to wait at the end")
    parser.add_argument("--database-url", help="central's database (default: SQLite)")
    parser.add_argument("--workdir", type=Path, help="keep the broker's and central's files here")
    return parser


@contextmanager
def _workdir(path: Path | None) -> Iterator[Path]:
    if path is not None:
        path.mkdir(parents=True, exist_ok=True)
        yield path
        return
    folder = Path(tempfile.mkdtemp(prefix="linetrace-soak-"))
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _soak(args: argparse.Namespace, broker: BenchBroker, central: CentralService) -> Run:
    groups = [broker.stations[i :: args.publishers] for i in range(args.publishers)]
    children = []
    for group in (g for g in groups if g):
        link, child_link = mp.Pipe()
        plan = SoakPlan(
            broker.host,
            broker.port,
            [(c.username, c.password) for c in group],
            args.rate * len(group) / len(broker.stations),
            args.duration,
            args.sample,
            args.drain,
        )
        process = mp.Process(target=soak_publisher_main, args=(plan, child_link), daemon=True)
        process.start()
        child_link.close()
        children.append((process, link))
    for _, link in children:
        receive(link, REPORT_GRACE_S, "a publisher process did not connect")
    pids = {"broker": [broker.pid], "publishers": [p.pid for p, _ in children if p.pid]}
    cpu_before = _cpu(central, pids)
    start_at = time.time() + 0.1
    for _, link in children:
        link.send(start_at)
    run = Run()
    _print_header()
    while True:
        wait = max(args.sample, args.drain) + REPORT_GRACE_S
        reports: list[WindowReport] = [
            receive(link, wait, "a publisher process stopped reporting") for _, link in children
        ]
        window = _window(reports, time.time() - start_at, central, pids)
        _print_row(window)
        if window.index == DRAIN:
            run.drain = window
            break
        run.windows.append(window)
    elapsed = time.time() - start_at
    run.finals = [receive(link, REPORT_GRACE_S, "no final report") for _, link in children]
    spent = {name: after - cpu_before.get(name, 0.0) for name, after in _cpu(central, pids).items()}
    for _, link in children:
        link.send("done")
    for process, _ in children:
        process.join(REPORT_GRACE_S)
    spent["publishers"] = sum(final.cpu_s for final in run.finals)
    shown = ", ".join(f"{name} {seconds / elapsed:.2f}" for name, seconds in spent.items())
    print(f"CPU over the run (cores busy): {shown}")
    return run


def _window(
    reports: list[WindowReport], seconds: float, central: CentralService, pids: dict[str, list[int]]
) -> Window:
    scrape = _scrape(central)
    return Window(
        index=reports[0].index,
        seconds=seconds,
        published=sum(r.published for r in reports),
        confirmed=sum(r.confirmed for r in reports),
        latencies=[value for r in reports for value in r.latencies],
        waiting=sum(r.waiting for r in reports),
        unconfirmed=sum(r.unconfirmed for r in reports),
        rss=_rss(central, pids),
        stored=_value(scrape, "linetrace_central_ingest_stored_total"),
        queued=_value(scrape, "linetrace_central_ingest_queued"),
    )


def _scrape(central: CentralService) -> Scrape:
    try:
        return central.scrape()
    except httpx.HTTPError as exc:  # a missed scrape is a blank in a line, not a failed soak
        print(f"  (scrape failed: {exc})")
        return {}


def _value(scrape: Scrape, name: str) -> float:
    return sum(scrape.get(name, {}).values()) if name in scrape else float("nan")


def _processes(central: CentralService, pids: dict[str, list[int]]) -> dict[str, list[int]]:
    try:
        children = [c.pid for c in psutil.Process(central.pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        children = []
    return {"central": [central.pid], "children": children, **pids}


def _rss(central: CentralService, pids: dict[str, list[int]]) -> dict[str, float]:
    found = {}
    for party, members in _processes(central, pids).items():
        total = 0
        for pid in members:
            with suppress(psutil.NoSuchProcess):
                total += psutil.Process(pid).memory_info().rss
        found[party] = total / MB
    return found


def _cpu(central: CentralService, pids: dict[str, list[int]]) -> dict[str, float]:
    found = {}
    for party, members in _processes(central, pids).items():
        total = 0.0
        for pid in members:
            try:
                times = psutil.Process(pid).cpu_times()
            except psutil.NoSuchProcess:
                continue
            total += times.user + times.system
        found[party] = total
    return found


def _ms(value: float | None) -> str:
    return "-" if value is None else f"{value:.0f}"


def _print_header() -> None:
    print(
        f"{'window':>6} {'t s':>6} {'pub':>7} {'conf':>7} {'p50 ms':>7} {'p99 ms':>7} "
        f"{'max ms':>7} {'backlog':>7} {'queued':>6} {'stored':>9} "
        + " ".join(f"{name[:10] + ' MB':>13}" for name in PARTIES)
        + f" {'load':>5}",
        flush=True,
    )


def _print_row(window: Window) -> None:
    name = "drain" if window.index == DRAIN else str(window.index + 1)
    worst = max(window.latencies) * 1000 if window.latencies else None
    print(
        f"{name:>6} {window.seconds:>6.0f} {window.published:>7,} {window.confirmed:>7,} "
        f"{_ms(window.p(0.5)):>7} {_ms(window.p(0.99)):>7} {_ms(worst):>7} "
        f"{window.waiting + window.unconfirmed:>7,} {window.queued:>6.0f} {window.stored:>9,.0f} "
        + " ".join(f"{window.rss[party]:>13.1f}" for party in PARTIES)
        + f" {os.getloadavg()[0]:>5.2f}",
        flush=True,
    )


def _stored(url: str) -> dict[str, tuple[int, int, int]]:
    """Per station: rows, distinct seqs, distinct event ids."""
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            e = events.c
            rows = connection.execute(
                sa.select(
                    e.site,
                    e.line,
                    e.station,
                    sa.func.count(),
                    sa.func.count(sa.distinct(e.seq)),
                    sa.func.count(sa.distinct(e.event_id)),
                ).group_by(e.site, e.line, e.station)
            ).all()
    finally:
        engine.dispose()
    return {
        f"{site}/{line}/{station}": (n, seqs, ids) for site, line, station, n, seqs, ids in rows
    }


def _summary(args: argparse.Namespace, run: Run, url: str, status: int) -> int:
    published = {name: n for final in run.finals for name, n in final.published.items()}
    confirmed = {name: n for final in run.finals for name, n in final.confirmed.items()}
    stored = _stored(url)
    total = sum(published.values())
    rows = sum(n for n, _, _ in stored.values())
    lost = sum(max(0, n - stored.get(name, (0, 0, 0))[1]) for name, n in published.items())
    # A (station, seq) stored twice, or an event id twice (the store's key forbids it).
    doubled = sum(max(n - seqs, n - ids) for n, seqs, ids in stored.values())
    unconfirmed = sum(published[name] - confirmed.get(name, 0) for name in published)
    print(f"load average at the end: {load_average()}")
    print(
        f"events: {total:,} published ({total / args.duration:,.0f}/s), {rows:,} stored; "
        f"lost {lost}, doubled {doubled}; {unconfirmed} never confirmed"
    )
    everything = [
        value for window in [*run.windows, run.drain] if window for value in window.latencies
    ]
    if everything:
        print(
            f"latency due -> confirmed over the run: p50 {percentile(everything, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(everything, 0.99) * 1000:.0f} ms, max {max(everything) * 1000:.0f} ms"
        )
    if run.windows:
        first, last = run.windows[0], run.windows[-1]
        for label, fraction in (("p50", 0.5), ("p99", 0.99)):
            before, after = first.p(fraction), last.p(fraction)
            if before and after:
                print(
                    f"latency {label}, first window -> last: {before:.0f} -> {after:.0f} ms "
                    f"({after / before:.2f}x)"
                )
        for party in PARTIES:
            before, after = first.rss[party], last.rss[party]
            ratio = f"{after / before:.2f}x" if before else "-"
            print(f"memory {party}, first window -> last: {before:.1f} -> {after:.1f} MB ({ratio})")
    failed = lost or doubled or unconfirmed or status != 0
    print("soak: FAILED" if failed else "soak: ok (nothing lost, nothing doubled)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
