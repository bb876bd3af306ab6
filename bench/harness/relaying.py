"""The relay, timed: a sandbox target in its own process, central ingesting with the relay
child beside it (as ``linetrace central run`` starts them), the queue sampled, the lag read.

Central here is :class:`Ingest` in the benchmark's process (so the commit clock can time
each event, as in :mod:`.phases`) plus the relay's supervised child process started by
:func:`~linetrace.central.relay.process.start_relay`: the same two parts ``central run``
starts, on the same settings. The target is ``linetrace portal sandbox`` as a child
process, so its CPU is its own and it is measured from /proc like the broker's.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Self

import httpx
import sqlalchemy as sa
from pydantic import SecretStr

from harness.broker import BenchBroker
from harness.meters import process_cpu_s
from harness.phases import CommitClock
from harness.waiting import wait_for
from linetrace.central.config import CentralMqttSettings as CentralMqtt
from linetrace.central.config import CentralSettings, DatabaseSettings, IngestSettings
from linetrace.central.ingest.service import Ingest
from linetrace.central.relay.epcis.documents import document, encode
from linetrace.central.relay.settings import RelaySettings, TargetSettings
from linetrace.central.store import events, open_engine
from linetrace.central.store.relay_tables import relay_queue
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, wait_for_port

__all__ = [
    "TARGET",
    "QueueSampler",
    "RawRate",
    "Sample",
    "SandboxProcess",
    "lags",
    "raw_accept_rate",
    "relaying_ingest",
]

TARGET = "sandbox"
# A sandbox imports starlette, uvicorn and the schema: a second or two, more when loaded.
SANDBOX_START_S = 30.0
# Seconds for one capture request and its job in the raw baseline: far above what a
# local sandbox takes, so only a hung one trips it.
REQUEST_TIMEOUT_S = 30.0
# Documents of the raw baseline: the sandbox's default limit, as the relay sends them.
RAW_EVENTS_PER_DOCUMENT = 100


class SandboxProcess:
    """``linetrace portal sandbox`` in a child process, and its counters."""

    def __init__(self, profile: str, schema: Path | None, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = ["--log-level", "WARNING", "portal", "sandbox", "--profile", profile]
        argv += ["--port", str(self.port)]
        if schema is not None:
            argv += ["--schema", str(schema)]
        self.child = Child(f"sandbox-{profile}", linetrace_argv(*argv), folder / "sandbox.log")
        self.client = httpx.Client(base_url=self.url, timeout=REQUEST_TIMEOUT_S)

    @contextmanager
    def running(self) -> Iterator[SandboxProcess]:
        self.child.start()
        try:
            wait_for_port("127.0.0.1", self.port, SANDBOX_START_S, self.child)
            yield self
        finally:
            self.client.close()
            self.child.stop()

    @property
    def pid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    def cpu_s(self) -> float:
        return process_cpu_s(self.pid)

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = self.client.get("/_sandbox/stats").json()
        return body

    def stored_events(self, limit: int) -> list[dict[str, Any]]:
        """The first ``limit`` events the sandbox accepted, as it stores them."""
        page = self.client.get("/events", params={"perPage": limit}).json()
        found: list[dict[str, Any]] = page["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        return found

    def reset(self) -> None:
        self.client.post("/_sandbox/reset").raise_for_status()


@contextmanager
def relaying_ingest(
    broker: BenchBroker, url: str, batch_size: int, clock: CommitClock, target_url: str
) -> Iterator[tuple[Ingest, CentralSettings]]:
    """Central's ingest with one epcis target (its events queued in each write batch).

    The relay child is not started here: the caller starts it with ``start_relay`` when
    its phase begins, so the same ingest can be timed with and without it.
    """
    settings = CentralSettings(
        database=DatabaseSettings(url=url),
        mqtt=CentralMqtt(
            host=broker.host,
            port=broker.port,
            username=broker.central.username,
            password=SecretStr(broker.central.password),
            client_id="bench-central",
        ),
        ingest=IngestSettings(batch_size=batch_size, max_in_flight=max(1000, batch_size * 5)),
        relay=RelaySettings(targets=[TargetSettings(name=TARGET, kind="epcis", url=target_url)]),
    )
    engine = open_engine(url)
    central = Ingest(settings, engine)
    central.add_commit_listener(clock)
    central.start()
    try:
        wait_for(lambda: central.subscribed, 10.0, "ingest did not subscribe")
        yield central, settings
    finally:
        central.stop()
        engine.dispose()


@dataclass(frozen=True)
class Sample:
    """One look at the relay: when, what the sandbox accepted, central's queue by state."""

    at: float  # time.monotonic()
    sandbox_accepted: int
    states: dict[str, int]

    @property
    def accepted(self) -> int:
        return self.states.get("accepted", 0)

    @property
    def pending(self) -> int:
        return self.states.get("queued", 0) + self.states.get("sent", 0)


@dataclass
class QueueSampler:
    """Samples the sandbox's counter and central's queue every ``every_s`` in a thread.

    Half a second: a phase of ten seconds gets twenty points, and a count of the queue by
    state (a scan of tens of thousands of rows) twice a second is a few per cent of a core.
    """

    sandbox: SandboxProcess
    database_url: str
    every_s: float = 0.5
    samples: list[Sample] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _engine: Any = None

    def sample(self) -> Sample:
        if self._engine is None:
            self._engine = open_engine(self.database_url)
        with self._engine.connect() as connection:
            found = connection.execute(
                sa.select(relay_queue.c.state, sa.func.count()).group_by(relay_queue.c.state)
            ).all()
        accepted = int(self.sandbox.stats()["events_accepted"])
        return Sample(time.monotonic(), accepted, {state: int(n) for state, n in found})

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self.samples.append(self.sample())

    def __enter__(self) -> Self:
        self._thread = threading.Thread(target=self._run, name="queue-sampler", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(REQUEST_TIMEOUT_S)
        if self._engine is not None:
            self._engine.dispose()


def lags(database_url: str, since: datetime) -> tuple[list[float], list[float]]:
    """Seconds from commit (``queued_at``) and from receipt (the event's ``received_at``)
    to acceptance (``done_at``), of the events queued since ``since``."""
    engine = open_engine(database_url)
    q, e = relay_queue.c, events.c
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(q.queued_at, q.done_at, e.received_at)
                .join(events, e.event_id == q.event_id)
                .where(q.target == TARGET, q.queued_at >= since, q.state == "accepted")
            ).all()
    finally:
        engine.dispose()
    from_commit = [(done - queued).total_seconds() for queued, done, _ in rows]
    from_receipt = [(done - received).total_seconds() for _, done, received in rows]
    return from_commit, from_receipt


@dataclass(frozen=True)
class RawRate:
    """The raw baseline: pre-built documents posted by plain clients, jobs polled."""

    clients: int
    events: int
    seconds: float
    sandbox_cpu_s: float

    @property
    def rate(self) -> float:
        return self.events / self.seconds


def raw_accept_rate(
    sandbox: SandboxProcess, bodies: Sequence[dict[str, Any]], clients: int
) -> RawRate:
    """Post ``bodies`` (stored events) in documents of 100 from ``clients`` threads.

    Each document is built and encoded before the clock starts; each client posts one,
    polls its capture job until it is no longer running, then posts the next: what the
    relay's adapter does, without the relay's database work.
    """
    sandbox.reset()
    created = datetime.now(UTC)
    documents = [
        encode(document(bodies[i : i + RAW_EVENTS_PER_DOCUMENT], created=created))
        for i in range(0, len(bodies), RAW_EVENTS_PER_DOCUMENT)
    ]
    headers = {"Content-Type": "application/ld+json", "GS1-Capture-Error-Behaviour": "rollback"}

    def post(chunk: Sequence[bytes]) -> None:
        with httpx.Client(base_url=sandbox.url, timeout=REQUEST_TIMEOUT_S) as client:
            for body in chunk:
                answer = client.post("/capture", content=body, headers=headers)
                if answer.status_code not in (201, 202):
                    raise RuntimeError(f"raw capture refused: {answer.status_code} {answer.text}")
                location = answer.headers.get("Location")
                while location:
                    job = client.get(location).json()
                    if not job.get("running"):
                        if job.get("success") is False:
                            raise RuntimeError(f"raw capture failed: {json.dumps(job)[:300]}")
                        break
                    time.sleep(0.005)

    chunks = [documents[i::clients] for i in range(clients)]
    cpu0, began = sandbox.cpu_s(), time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(post, chunks))
    seconds = time.perf_counter() - began
    return RawRate(clients, len(bodies), seconds, sandbox.cpu_s() - cpu0)
