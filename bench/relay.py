"""Relay benchmark: events/s into a local EPCIS repository with ingest running alongside.

Run: ``python bench/relay.py [--backlog N] [--rate R] [--seconds S] [--database sqlite|postgresql]``.
It starts a real Mosquitto (a :class:`LocalBroker`) with ``--stations`` stations,
``linetrace portal sandbox --profile epcis-async`` in its own process with its default
limits (100 events / 100,000 bytes per capture, 202 + a capture job) validating every
document against GS1's EPCIS JSON Schema (``../shared/epcis/schema``, when present), and
central as ``linetrace central run`` runs it: the ingest (this process and its receiver
process) with one ``[[relay.targets]]`` of kind epcis, and the relay's child process.
Then, on one database made for the run:

1. a backlog of ``--backlog`` events is ingested and queued, the relay not running;
2. ingest alone at ``--rate`` events/s for ``--seconds`` (events still queued): the
   p50/p99 from publish to commit without the relay;
3. the relay child starts and drains the backlog while the ingest runs at ``--rate``
   alongside: the relay's throughput (events/s the sandbox accepted, and central marked
   accepted, from the first acceptance until the backlog is gone or the phase ends),
   the CPU per event of the relay child and of the sandbox, and the ingest's p99 with the
   relay working flat out, as a ratio to step 2's;
4. once the queue is empty, ingest at ``--rate`` for ``--seconds`` with the relay keeping
   up: the lag from commit (the queue row's ``queued_at``) and from receipt (the event's
   ``received_at``) to acceptance (``done_at``), p50/p99;
5. the baseline, same run: the first ``--raw-events`` events the sandbox holds, posted
   again (after ``POST /_sandbox/reset``) as pre-built documents of 100 from plain
   httpx loops that poll each capture job, with 1 client and with the relay's
   concurrency (4): the sandbox's raw accept rate, and the relay's rate as a share of it.

Targets (2 cores): relay >= 5,000 events/s with ingest at 1,000 events/s alongside and
still meeting its p99 (<= 200 ms, bench/central_ingest.py); lag p99 < 5 s. It prints
figures and ratios and asserts nothing. Loopback only; bounded by the phase timeouts.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path

from harness.broker import BenchBroker, running_broker
from harness.databases import database
from harness.figures import load_average, percentile
from harness.meters import process_cpu_s
from harness.phases import CommitClock, timed_ingest
from harness.publishers import GENERATORS
from harness.relaying import (
    QueueSampler,
    RawRate,
    Sample,
    SandboxProcess,
    lags,
    raw_accept_rate,
    relaying_ingest,
)
from harness.waiting import PHASE_TIMEOUT_S, wait_for
from linetrace.broker.contract.topics import StationId
from linetrace.central.config import IngestSettings
from linetrace.central.derive.stations import register_station
from linetrace.central.ingest.service import Ingest
from linetrace.central.relay.process import start_relay
from linetrace.central.store import open_engine
from linetrace.central.store import upgrade as migrate

SCHEMA = Path(__file__).resolve().parents[1].parent / "shared/epcis/schema/EPCIS-JSON-Schema.json"
TARGET_RELAY_PER_S = 5_000
TARGET_INGEST_P99_S = 0.200  # bench/central_ingest.py's goal at 1,000 events/s
TARGET_LAG_P99_S = 5.0
# The relay's default concurrency (documents in flight per target), for the baseline.
RELAY_CONCURRENCY = 4
# Events per station beyond central's ack, as in bench/central_ingest.py: 1,000 per
# station keeps 8 stations within the broker's per-client queue (10,000).
DEFAULT_WINDOW = 1000
# The relay's window is over when fewer events wait than arrive in a second: the backlog
# is gone and the relay is only keeping up with the ingest.
DRAINED_BELOW_S = 1.0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backlog", type=int, default=60_000, help="events queued before")
    parser.add_argument("--rate", type=float, default=1000.0, help="ingest events/s alongside")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of a steady phase")
    parser.add_argument("--stations", type=int, default=8, help="simulated stations")
    parser.add_argument("--database", choices=["sqlite", "postgresql"], default="sqlite")
    parser.add_argument("--raw-events", type=int, default=10_000, help="events of the baseline")
    parser.add_argument("--batch-size", type=int, default=IngestSettings().batch_size)
    parser.add_argument("--window", type=int, default=DEFAULT_WINDOW)
    parser.add_argument("--generator", choices=sorted(GENERATORS), default="raw")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    args = parser.parse_args(argv)
    # The relay child logs at this level: at INFO httpx would log every request it makes.
    os.environ.setdefault("LINETRACE_LOG_LEVEL", "WARNING")
    schema = SCHEMA if SCHEMA.is_file() else None
    print(
        f"cores: {os.cpu_count()}, stations: {args.stations}, backlog: {args.backlog:,}, "
        f"ingest alongside: {args.rate:,.0f} events/s, steady phases: {args.seconds:g} s, "
        f"database: {args.database}"
    )
    print(f"sandbox: epcis-async, default limits, schema: {schema or 'NONE (envelope only)'}")
    with tempfile.TemporaryDirectory(prefix="linetrace-bench-relay-") as tmp:
        folder = Path(tmp)
        sandbox = SandboxProcess("epcis-async", schema, folder)
        with (
            running_broker(folder, args.stations) as broker,
            sandbox.running(),
            database(args.database, folder, "relay") as url,
        ):
            if url is None:
                return 1
            migrate(url)
            engine = open_engine(url)
            with engine.begin() as connection:
                for login in broker.stations:
                    register_station(
                        connection, StationId.parse(login.username), registered_by="bench"
                    )
            engine.dispose()
            run(broker, sandbox, url, args)
    print(f"load average: {load_average()}")
    return 0


def run(broker: BenchBroker, sandbox: SandboxProcess, url: str, args: argparse.Namespace) -> None:
    """Steps 1 to 5 of the module's docstring, on a migrated database with the stations."""
    stations = len(broker.stations)
    backlog = max(1, args.backlog // stations)
    steady = max(1, int(args.rate * args.seconds) // stations)
    clock = CommitClock()
    sampler = QueueSampler(sandbox, url)
    with relaying_ingest(broker, url, args.batch_size, clock, sandbox.url) as (central, settings):
        filled, _ = timed_ingest(broker, central, first_seq=1, count=backlog, rate=None, args=args)
        print(f"backlog: {filled.events:,} events ingested and queued at {filled.rate:,.0f}/s")
        seq = backlog + 1
        alone = _latencies(broker, central, clock, seq, steady, args)
        seq += steady
        relay = start_relay(settings)
        assert relay is not None
        try:
            wait_for(lambda: sandbox.stats()["events_accepted"] > 0, PHASE_TIMEOUT_S,
                     "the relay accepted nothing")  # fmt: skip
            relay_pid = relay.pid
            cpu0 = (process_cpu_s(relay_pid) if relay_pid else 0.0, sandbox.cpu_s())
            with sampler:
                alongside = _latencies(broker, central, clock, seq, steady, args)
            seq += steady
            cpu = (
                (process_cpu_s(relay_pid) if relay_pid else 0.0) - cpu0[0],
                sandbox.cpu_s() - cpu0[1],
            )
            _report_throughput(sampler.samples, cpu, alone, alongside, args)
            wait_for(lambda: sampler.sample().pending == 0, PHASE_TIMEOUT_S,
                     lambda: f"queue not drained: {sampler.sample().states}")  # fmt: skip
            since = datetime.now(UTC)
            keeping_up = _latencies(broker, central, clock, seq, steady, args)
            wait_for(lambda: sampler.sample().pending == 0, PHASE_TIMEOUT_S, "lag phase: queued")
            _report_lag(url, since, keeping_up, args)
        finally:
            relay.stop()
    bodies = sandbox.stored_events(args.raw_events)
    rates = [raw_accept_rate(sandbox, bodies, clients) for clients in (1, RELAY_CONCURRENCY)]
    _report_baseline(rates, sampler.samples, args)


def _latencies(
    broker: BenchBroker,
    central: Ingest,
    clock: CommitClock,
    first: int,
    count: int,
    args: argparse.Namespace,
) -> list[float]:
    """Publish ``count`` events per station at ``--rate``; each one's publish-to-commit time."""
    clock.committed.clear()
    clock.enabled = True
    _, sent = timed_ingest(broker, central, first_seq=first, count=count, rate=args.rate, args=args)
    clock.enabled = False
    return clock.latencies(sent)


def _window(samples: list[Sample], rate: float) -> tuple[Sample, Sample] | None:
    """From the first sample after acceptance began to the one where the backlog was gone."""
    if len(samples) < 2:
        return None
    first = samples[0]
    for sample in samples[1:]:
        if sample.pending < rate * DRAINED_BELOW_S:
            return first, sample
    return first, samples[-1]


def _report_throughput(
    samples: list[Sample],
    cpu: tuple[float, float],
    alone: list[float],
    alongside: list[float],
    args: argparse.Namespace,
) -> None:
    window = _window(samples, args.rate)
    if window is None:
        print("relay: too few samples to measure a rate (lengthen --seconds)")
        return
    start, end = window
    seconds = end.at - start.at
    delivered = (end.sandbox_accepted - start.sandbox_accepted) / seconds
    accepted = (end.accepted - start.accepted) / seconds
    drained = "backlog drained" if end.pending < args.rate * DRAINED_BELOW_S else "phase ended"
    verdict = "met" if accepted >= TARGET_RELAY_PER_S else "NOT met"
    print(
        f"relay: {delivered:,.0f} events/s delivered (sandbox accepted), {accepted:,.0f} "
        f"events/s marked accepted in central, over {seconds:.1f} s ({drained}), ingest "
        f"at {args.rate:,.0f}/s alongside; target >= {TARGET_RELAY_PER_S:,}: {verdict}"
    )
    events = max(1, end.sandbox_accepted - samples[0].sandbox_accepted)
    print(
        f"  CPU µs/event over the phase: relay child {cpu[0] / events * 1e6:.0f}, "
        f"sandbox {cpu[1] / events * 1e6:.0f}"
    )
    if alone and alongside:
        p99_alone, p99_with = percentile(alone, 0.99), percentile(alongside, 0.99)
        verdict = "met" if p99_with <= TARGET_INGEST_P99_S else "NOT met"
        print(
            f"ingest at {args.rate:,.0f} events/s, publish to commit: relay stopped p50 "
            f"{percentile(alone, 0.5) * 1000:.0f} ms, p99 {p99_alone * 1000:.0f} ms; relay "
            f"draining alongside p50 {percentile(alongside, 0.5) * 1000:.0f} ms, p99 "
            f"{p99_with * 1000:.0f} ms (x{p99_with / p99_alone:.2f}); target p99 <= "
            f"{TARGET_INGEST_P99_S * 1000:.0f} ms: {verdict}"
        )


def _report_lag(url: str, since: datetime, ingest: list[float], args: argparse.Namespace) -> None:
    from_commit, from_receipt = lags(url, since)
    if not from_commit:
        print("lag: no event accepted in the lag phase")
        return
    p99 = percentile(from_receipt, 0.99)
    verdict = "met" if p99 < TARGET_LAG_P99_S else "NOT met"
    print(
        f"lag to accepted at {args.rate:,.0f} events/s ({len(from_commit):,} events): from commit "
        f"p50 {percentile(from_commit, 0.5):.2f} s, p99 {percentile(from_commit, 0.99):.2f} s; "
        f"from receipt p50 {percentile(from_receipt, 0.5):.2f} s, p99 {p99:.2f} s; "
        f"target p99 < {TARGET_LAG_P99_S:g} s: {verdict}"
    )
    if ingest:
        print(
            f"  ingest meanwhile: p50 {percentile(ingest, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(ingest, 0.99) * 1000:.0f} ms"
        )


def _report_baseline(rates: list[RawRate], samples: list[Sample], args: argparse.Namespace) -> None:
    window = _window(samples, args.rate)
    relay = None
    if window is not None:
        start, end = window
        relay = (end.sandbox_accepted - start.sandbox_accepted) / (end.at - start.at)
    for raw in rates:
        share = f"; relay at {relay / raw.rate:.0%} of it" if relay else ""
        print(
            f"baseline: sandbox raw accept rate, {raw.clients} plain httpx client(s) posting "
            f"pre-built documents of 100: {raw.rate:,.0f} events/s ({raw.events:,} events, "
            f"sandbox CPU {raw.sandbox_cpu_s / raw.events * 1e6:.0f} µs/event){share}"
        )


if __name__ == "__main__":
    sys.exit(main())
