"""Central ingest benchmark: events/s into SQLite and PostgreSQL, latency, trace queries.

Run: ``python bench/central_ingest.py [--events N] [--stations K]
[--database sqlite|postgresql|both]``. It starts a real Mosquitto with the project's
generated configuration on a free port, central's :class:`Ingest` in this process (with
its receiver process), and the stations in a publisher process (one MQTT connection and account per station, QoS 1).
It prints:

- the raw broker rate: the same stations into a no-op shared subscriber, measured in
  the same run, as the baseline every ingest figure is compared with;
- sustained events/s into each database: each station keeps at most ``--window`` events
  beyond central's ``ack`` watermark, as an edge's outbox does, so the figure is what
  central commits and acknowledges, end to end;
- p50/p99 latency from publish to commit at a steady ``--rate`` events/s;
- the drain rate: ``--preload`` events queued in the broker while central is stopped,
  then taken in by a restarted central with no publisher running, timed from its
  subscription. The sustained figure
  shares the cores with the publishers; this one is central's own capacity;
- for each of these phases, the CPU time per event of central (this process and its
  receiver process, summed and then split), of the broker (from /proc, so Linux only)
  and of the load generator, and the cores each kept busy: where the machine's cores went;
- the time of a lot trace (if the traces module is installed) and of a per-code lookup
  over ``--trace-rows`` stored events, bulk-loaded directly (not through MQTT).

The load generator must not take the cores central is measured on. By default the
stations write pre-encoded MQTT v5 PUBLISH packets from one asyncio process, a few
microseconds of CPU per event; ``--generator paho`` runs them as paho-mqtt clients
instead (what an edge runs, about ten times the CPU) to compare.

PostgreSQL: a throwaway database is created on the server named by
``LINETRACE_BENCH_DATABASE_URL`` (else ``LINETRACE_TEST_DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.

Targets (2 cores): >= 10,000 events/s into SQLite, >= 5,000 into PostgreSQL, p99 <= 200
ms at 1,000 events/s. Publishers, broker and central share the machine's cores, as
they would on a small all-in-one site server, so the ratio to the raw broker rate says
more than the absolute figure on a busy machine.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from harness.broker import running_broker
from harness.consumer import NOOP_CONSUMER, raw_broker_phase
from harness.databases import database
from harness.figures import report_ingest, report_trace_timings
from harness.phases import ingest_phases
from harness.publishers import GENERATORS
from harness.traceset import bulk_load, trace_timings
from linetrace.broker.mosquitto import MAX_QUEUED_MESSAGES
from linetrace.central.config import IngestSettings
from linetrace.central.store import open_engine
from linetrace.central.store import upgrade as migrate
from linetrace.edge.delivery.publisher import MAX_INFLIGHT

# Events a station may have published beyond central's ack watermark, as an edge's outbox
# would: 1,000 per station keeps the broker's per-client queue (10,000) from overflowing
# with up to 8 stations while leaving central ample work queued.
DEFAULT_WINDOW = 1000
# Events queued in the broker for a stopped central before the drain run: within the
# broker's per-client queue (MAX_QUEUED_MESSAGES, 10,000), so none is dropped.
DEFAULT_PRELOAD = 9_600


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput run")
    parser.add_argument("--stations", type=int, default=8, help="simulated stations")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of that run")
    parser.add_argument(
        "--trace-rows", type=int, default=1_000_000, help="events for the trace timings (0: skip)"
    )
    parser.add_argument("--batch-size", type=int, default=IngestSettings().batch_size)
    parser.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW, help="events per station beyond the ack"
    )
    parser.add_argument(
        "--generator",
        choices=sorted(GENERATORS),
        default="raw",
        help="how the stations publish: raw MQTT v5 packets (cheap) or paho-mqtt clients",
    )
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    parser.add_argument(
        "--preload",
        type=int,
        default=DEFAULT_PRELOAD,
        help="events queued while central is stopped, for the drain rate (0: skip)",
    )
    args = parser.parse_args(argv)
    if args.window * args.stations > MAX_QUEUED_MESSAGES:
        # The broker drops what overflows central's queue; an edge would resend it, the
        # load generator does not, so a phase would stall instead of measuring anything.
        parser.error(
            f"--window x --stations ({args.window * args.stations}) exceeds the broker's "
            f"per-client queue ({MAX_QUEUED_MESSAGES}); lower --window"
        )
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"cores: {os.cpu_count()}, events: {args.events}, stations: {args.stations}, "
        f"batch size: {args.batch_size}, window: {args.window}"
    )
    print(
        f"load generator: {GENERATORS[args.generator][1]}, in {args.publishers} process(es); "
        f"one connection per station, QoS 1, at most {MAX_INFLIGHT} awaiting a PUBACK"
    )
    print(f"no-op consumer: {NOOP_CONSUMER}")
    with tempfile.TemporaryDirectory(prefix="linetrace-bench-") as tmp:
        folder = Path(tmp)
        with running_broker(folder, args.stations) as broker:
            raw = raw_broker_phase(broker, args.events // args.stations, args)
            print(f"raw broker rate (no-op consumer): {raw.rate:,.0f} events/s")
            print(raw.cpu("consumer"))
            for kind in kinds:
                with database(kind, folder, "ingest") as url:
                    if url is not None:
                        report_ingest(kind, ingest_phases(broker, url, args), raw, args)
        for kind in kinds if args.trace_rows else []:
            with database(kind, folder, "trace") as url:
                if url is None:
                    continue
                migrate(url)
                engine = open_engine(url)
                try:
                    loaded = bulk_load(engine, args.trace_rows)
                    timings = trace_timings(engine, args.trace_rows)
                finally:
                    engine.dispose()
                report_trace_timings(kind, args.trace_rows, loaded, timings)
    return 0


if __name__ == "__main__":
    sys.exit(main())
