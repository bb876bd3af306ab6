"""Central's ingest, timed: sustained, at a steady rate (latency) and draining a queue.

Central's :class:`Ingest` runs in this process (with its receiver process), on a
database made for the run; the stations publish from their own processes.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

from pydantic import SecretStr

from harness.broker import BenchBroker, clear_acks
from harness.meters import Meter, Phase
from harness.publishers import run_publishers
from harness.waiting import PHASE_TIMEOUT_S, wait_for
from linetrace.broker.contract.topics import StationId
from linetrace.central.config import CentralMqttSettings as CentralMqtt
from linetrace.central.config import CentralSettings, DatabaseSettings, IngestSettings
from linetrace.central.derive.stations import register_station
from linetrace.central.ingest.service import Ingest
from linetrace.central.ingest.write_batch import BatchResult, Inbound
from linetrace.central.store import open_engine
from linetrace.central.store import upgrade as migrate

__all__ = [
    "CommitClock",
    "DatabaseRun",
    "drain_phase",
    "ingest_phases",
    "running_ingest",
    "timed_ingest",
]


class CommitClock:
    """Notes when each message's batch was committed (an ingest commit listener)."""

    def __init__(self) -> None:
        self.committed: list[tuple[float, list[bytes]]] = []
        self.enabled = False

    def __call__(self, messages: Sequence[Inbound], _result: BatchResult) -> None:
        if self.enabled:
            self.committed.append((time.time(), [m.payload for m in messages]))

    def latencies(self, sent: list[tuple[str, int, float]]) -> list[float]:
        sent_at = {(station, seq): at for station, seq, at in sent}
        found = []
        for at, payloads in self.committed:
            for payload in payloads:
                document = json.loads(payload)
                station = f"{document['site']}/{document['line']}/{document['station']}"
                began = sent_at.get((station, document["seq"]))
                if began is not None:
                    found.append(at - began)
        return found


@contextmanager
def running_ingest(
    broker: BenchBroker, url: str, batch_size: int, clock: CommitClock
) -> Iterator[Ingest]:
    settings = CentralSettings(
        database=DatabaseSettings(url=url),
        mqtt=CentralMqtt(
            host=broker.host,
            port=broker.port,
            username=broker.central.username,
            password=SecretStr(broker.central.password),
            # One id for every run: the broker resumes the session instead of keeping an
            # offline one in the shared group, which would take a share of the next run.
            client_id="bench-central",
        ),
        ingest=IngestSettings(batch_size=batch_size, max_in_flight=max(1000, batch_size * 5)),
    )
    engine = open_engine(url)
    central = Ingest(settings, engine)
    central.add_commit_listener(clock)
    central.start()
    try:
        wait_for(lambda: central.subscribed, 10.0, "ingest did not subscribe")
        yield central
    finally:
        central.stop()
        engine.dispose()


@dataclass(frozen=True)
class DatabaseRun:
    sustained: Phase
    latency: Phase | None
    latencies: list[float]  # seconds from publish to commit, at --rate
    drain: Phase | None


def timed_ingest(
    broker: BenchBroker,
    central: Ingest,
    *,
    first_seq: int,
    count: int,
    rate: float | None,
    args: argparse.Namespace,
) -> tuple[Phase, list[tuple[str, int, float]]]:
    """Publish ``count`` events per station into a running central; time them to the commit."""
    events = count * len(broker.stations)
    expected = central.stats().stored + events
    meter = Meter(broker, central)
    start_at, published = run_publishers(
        broker,
        first_seq=first_seq,
        count=count,
        rate=rate,
        window=args.window,
        args=args,
        on_start=meter.start,
    )
    wait_for(lambda: central.stats().stored >= expected, PHASE_TIMEOUT_S, "ingest: events missing")
    phase = meter.phase(events, time.time() - start_at, published.cpu_s)
    return phase, published.sent_at


def ingest_phases(broker: BenchBroker, url: str, args: argparse.Namespace) -> DatabaseRun:
    """Sustained events/s, latencies at a steady rate, then the drain rate, on one database."""
    clear_acks(broker)
    migrate(url)
    engine = open_engine(url)
    with engine.begin() as connection:
        for credentials in broker.stations:
            register_station(
                connection, StationId.parse(credentials.username), registered_by="bench"
            )
    engine.dispose()
    per_station = args.events // len(broker.stations)
    steady = int(args.rate * args.latency_seconds) // len(broker.stations)
    clock = CommitClock()
    latency: Phase | None = None
    sent: list[tuple[str, int, float]] = []
    with running_ingest(broker, url, args.batch_size, clock) as central:
        sustained, _ = timed_ingest(
            broker, central, first_seq=1, count=per_station, rate=None, args=args
        )
        if steady:
            clock.enabled = True
            latency, sent = timed_ingest(
                broker, central, first_seq=per_station + 1, count=steady, rate=args.rate, args=args
            )
    drain = drain_phase(broker, url, args, first_seq=per_station + steady + 1)
    return DatabaseRun(sustained, latency, clock.latencies(sent), drain)


def drain_phase(
    broker: BenchBroker, url: str, args: argparse.Namespace, first_seq: int
) -> Phase | None:
    """Central taking in a queue the broker filled while it was stopped.

    The sustained figure has the publishers (and the broker's work for them) on the same
    cores as central; here they are done before central starts, so the figure is central's
    own capacity, which a central that comes back to a backlog shows. None when the
    preload is 0.
    """
    per_station = int(args.preload) // len(broker.stations)
    if per_station < 1:
        return None
    run_publishers(
        broker,
        first_seq=first_seq,
        count=per_station,
        rate=None,
        window=None,  # central is stopped: its session queues everything
        args=args,
    )
    total = per_station * len(broker.stations)
    with running_ingest(broker, url, args.batch_size, CommitClock()) as central:
        # Timed from the subscription: starting the receiver process (a fresh interpreter,
        # a second or more on a busy machine) is a cost of a restart, not of the drain.
        meter = Meter(broker, central)
        meter.start()
        began, already = time.perf_counter(), central.stats().stored
        wait_for(lambda: central.stats().stored >= total, PHASE_TIMEOUT_S, "drain: events missing")
        return meter.phase(total - already, time.perf_counter() - began, None)
