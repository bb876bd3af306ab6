"""The figures a benchmark prints: percentiles, and each rate beside its baseline."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # no import of central for the edge's benchmarks
    from harness.meters import Phase
    from harness.phases import DatabaseRun

__all__ = ["load_average", "percentile", "report_ingest", "report_trace_timings"]


def percentile(values: Sequence[float], fraction: float) -> float:
    """The nearest-rank percentile: the value below which ``fraction`` of them lie."""
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def load_average() -> str:
    """The machine's load average, printed beside figures that other processes skew."""
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


def report_ingest(kind: str, run: DatabaseRun, raw: Phase, args: argparse.Namespace) -> None:
    """The ingest figures of one database, each rate also as a share of the raw rate."""
    sustained = run.sustained
    print(
        f"{kind}: sustained {sustained.rate:,.0f} events/s ({sustained.rate / raw.rate:.0%} of raw)"
    )
    print(sustained.cpu())
    if run.latency is not None and run.latencies:
        print(
            f"{kind}: latency at {args.rate:,.0f} events/s ({run.latency.rate:,.0f} achieved): "
            f"p50 {percentile(run.latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(run.latencies, 0.99) * 1000:.0f} ms ({len(run.latencies)} events)"
        )
        print(run.latency.cpu())
    if run.drain is not None:
        print(
            f"{kind}: drain of a {run.drain.events:,}-event backlog: "
            f"{run.drain.rate:,.0f} events/s ({run.drain.rate / raw.rate:.0%} of raw)"
        )
        print(run.drain.cpu())


def report_trace_timings(kind: str, rows: int, loaded_s: float, timings: dict[str, float]) -> None:
    """How long the trace data set took to load, and the median of each query kind."""
    shown = ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())
    print(f"{kind}: {rows:,} events loaded in {loaded_s:.0f} s; median {shown}")
