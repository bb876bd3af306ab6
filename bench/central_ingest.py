"""Central ingest benchmark: events/s into SQLite and PostgreSQL, latency, trace queries.

Run: ``python bench/central_ingest.py [--events N] [--stations K]
[--database sqlite|postgresql|both]``. It starts a real Mosquitto with the project's
generated configuration on a free port, central's :class:`Ingest` in this process, and
the stations as publisher processes (one MQTT connection per station, QoS 1). It prints:

- the raw broker rate: the same publishers into a no-op shared subscriber, measured in
  the same run, as the baseline every ingest figure is compared with;
- sustained events/s into each database: each station keeps at most ``--window`` events
  beyond central's ``ack`` watermark, as an edge's outbox does, so the figure is what
  central commits and acknowledges, end to end;
- p50/p99 latency from publish to commit at a steady ``--rate`` events/s;
- the drain rate: ``--preload`` events queued in the broker while central is stopped,
  then taken in by a restarted central with no publisher running. The sustained figure
  shares the cores with the publishers; this one is central's own capacity;
- the time of a lot trace (if the traces module is installed) and of a per-code lookup
  over ``--trace-rows`` stored events, bulk-loaded directly (not through MQTT).

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
import json
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any
from uuid import UUID

import paho.mqtt.client as mqtt
import psycopg
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url

from linetrace.broker.events import AckWatermark
from linetrace.broker.mosquitto import (
    Credentials,
    add_service,
    add_station,
    broker_command,
    init_broker,
)
from linetrace.broker.topics import SHARED_GROUP, Channel, StationId, subscription, topic
from linetrace.central.batch import BatchResult, Inbound
from linetrace.central.config import CentralSettings, DatabaseSettings, IngestSettings
from linetrace.central.config import MqttSettings as CentralMqtt
from linetrace.central.ingest import Ingest
from linetrace.central.stations import register_station
from linetrace.central.store import EventQuery, events, find_events, open_engine
from linetrace.central.store import upgrade as migrate

HCM = timezone(timedelta(hours=7))
GTINS = ["08938500000010", "08938500000027", "08938500000034", "08938500000041"]
# Events a station may have published beyond central's ack watermark, as an edge's outbox
# would: 1,000 per station keeps the broker's per-client queue (10,000) from overflowing
# with up to 8 stations while leaving central ample work queued.
DEFAULT_WINDOW = 1000
# Events queued in the broker for a stopped central before the drain run: within the
# broker's per-client queue (MAX_QUEUED_MESSAGES, 10,000), so none is dropped.
DEFAULT_PRELOAD = 9_600
# Seconds to wait for the last events of a phase before reporting what arrived.
PHASE_TIMEOUT_S = 120.0
# Lots in the trace data set: a lot of a thousand items is a realistic production batch.
ITEMS_PER_LOT = 1000
# Queries timed per lookup kind; the median is printed.
QUERY_REPEATS = 15


# --- events ----------------------------------------------------------------------------------


def uuid7(millis: int) -> str:
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(UUID(int=value))


def event_payload(station: StationId, seq: int, lot: str, gtin: str) -> bytes:
    """A read event as an edge sends it (compact JSON, valid GS1 keys)."""
    observed = datetime(2025, 3, 1, 8, 0, tzinfo=HCM) + timedelta(milliseconds=seq * 50)
    serial = f"{seq:08d}"
    document = {
        "schema_version": "1.1",
        "event_id": uuid7(int(observed.timestamp() * 1000)),
        "site": station.site,
        "line": station.line,
        "station": station.station,
        "seq": seq,
        "kind": "read",
        "observed_at": observed.isoformat(),
        "symbology": "DataMatrix",
        "symbology_id": "]d2",
        "text": f"01{gtin}10{lot}\x1d21{serial}",
        "gs1": {"01": gtin, "10": lot, "21": serial},
        "checks": {"check_digit": {"passed": True}},
        "frames": 3,
    }
    return json.dumps(document, separators=(",", ":")).encode()


# --- the stations: publisher processes -------------------------------------------------------


@dataclass(frozen=True)
class PublishPlan:
    host: str
    port: int
    stations: list[tuple[str, str, str]]  # (station id, username, password)
    first_seq: int
    count: int  # events per station
    rate: float | None  # events/s over all of this process's stations; None: flat out
    window: int | None  # most events beyond the ack watermark per station; None: no limit
    start_at: float  # time.time() to begin at


def publisher_main(plan: PublishPlan, results: Pipe) -> None:
    """One publisher process: prebuild payloads, publish, report send times."""
    stations = [StationId.parse(s) for s, _, _ in plan.stations]
    payloads = {
        station: [
            event_payload(station, seq, f"L{seq // ITEMS_PER_LOT:04d}", GTINS[seq % len(GTINS)])
            for seq in range(plan.first_seq, plan.first_seq + plan.count)
        ]
        for station in stations
    }
    acked = {station: plan.first_seq - 1 for station in stations}
    progress = threading.Condition()

    def on_ack(_c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        if not message.payload:
            return
        station = StationId.parse(message.topic.split("/", 2)[2].rsplit("/", 1)[0])
        with progress:
            acked[station] = max(
                acked[station], AckWatermark.model_validate_json(message.payload).seq
            )
            progress.notify_all()

    clients = {}
    for (name, username, password), station in zip(plan.stations, stations, strict=True):
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-{name.replace('/', '-')}-{secrets.token_hex(3)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(username, password)
        client.max_inflight_messages_set(200)
        client.max_queued_messages_set(0)
        client.on_message = on_ack
        client.connect(plan.host, plan.port, keepalive=60)
        client.subscribe(topic(station, Channel.ACK), qos=1)
        client.loop_start()
        clients[station] = client
    sent_at: list[tuple[str, int, float]] = []
    infos = []
    while time.time() < plan.start_at:
        time.sleep(0.001)
    began = time.time()
    interval = len(stations) / plan.rate if plan.rate else 0.0
    for index in range(plan.count):
        seq = plan.first_seq + index
        if interval:
            due = began + index * interval
            while (now := time.time()) < due:
                time.sleep(min(due - now, 0.002))
        for station in stations:
            if plan.window is not None:
                limit = seq - plan.window
                with progress:
                    while acked[station] < limit:
                        if not progress.wait(PHASE_TIMEOUT_S):
                            raise TimeoutError(f"no ack for {station} beyond {acked[station]}")
            stamp = time.time()
            infos.append(
                clients[station].publish(
                    topic(station, Channel.EVENTS), payloads[station][index], qos=1
                )
            )
            sent_at.append((str(station), seq, stamp))
    for info in infos[-len(stations) * 10 :]:
        info.wait_for_publish(PHASE_TIMEOUT_S)
    last_seq = plan.first_seq + plan.count - 1
    if plan.window is not None:
        with progress:
            progress.wait_for(lambda: all(a >= last_seq for a in acked.values()), PHASE_TIMEOUT_S)
    for client in clients.values():
        client.disconnect()
        client.loop_stop()
    results.send(sent_at if plan.rate else [])
    results.close()


def run_publishers(
    host: str,
    port: int,
    stations: Sequence[Credentials],
    *,
    first_seq: int,
    count: int,
    rate: float | None,
    window: int | None,
    processes: int,
) -> tuple[float, list[tuple[str, int, float]]]:
    """Start the publisher processes; return when they began and every (station, seq, sent)."""
    start_at = time.time() + 2.0 + 0.1 * len(stations)  # after every process has built its payloads
    groups = [list(stations[i::processes]) for i in range(processes)]
    children = []
    for group in (g for g in groups if g):
        receiving, sending = mp.Pipe(duplex=False)
        share = rate * len(group) / len(stations) if rate else None
        plan = PublishPlan(
            host,
            port,
            [(c.username, c.username, c.password) for c in group],
            first_seq,
            count,
            share,
            window,
            start_at,
        )
        process = mp.Process(target=publisher_main, args=(plan, sending), daemon=True)
        process.start()
        sending.close()
        children.append((process, receiving))
    sent: list[tuple[str, int, float]] = []
    for process, receiving in children:
        sent += receiving.recv()
        process.join(PHASE_TIMEOUT_S)
    return start_at, sent


# --- the broker ------------------------------------------------------------------------------


@dataclass
class Broker:
    host: str
    port: int
    stations: list[Credentials]
    central: Credentials
    process: subprocess.Popen[bytes]


@contextmanager
def running_broker(folder: Path, station_count: int) -> Iterator[Broker]:
    with socket_port() as port:
        pass
    directory = folder / "broker"
    init_broker(directory, port=port, bind="127.0.0.1")
    stations = [
        add_station(directory, StationId("bench", f"L{i // 4 + 1}", f"st-{i + 1}"))
        for i in range(station_count)
    ]
    central = add_service(directory, "central")
    log = (folder / "mosquitto.log").open("wb")
    process = subprocess.Popen(broker_command(directory), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _accepts(port), 10.0, "mosquitto did not start")
        yield Broker("127.0.0.1", port, stations, central, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


# --- the phases ------------------------------------------------------------------------------


class NoopSubscriber:
    """The baseline consumer: central's shared subscription and acks, without a database.

    It stores nothing, but acknowledges like central (a retained ``ack`` per station every
    few milliseconds), so the publishers' windows flow exactly as they do with central.
    """

    def __init__(self, broker: Broker) -> None:
        self.count = 0
        self._highest: dict[str, int] = {}
        self._published: dict[str, int] = {}
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id="bench-noop",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        self._client.username_pw_set(broker.central.username, broker.central.password)
        self._client.on_message = self._on_message
        self._client.on_subscribe = lambda *_a: self._subscribed.set()
        self._client.connect(broker.host, broker.port, keepalive=60)
        self._client.subscribe(subscription(Channel.EVENTS, shared_group=SHARED_GROUP), qos=1)
        self._client.loop_start()
        if not self._subscribed.wait(10):
            raise TimeoutError("no-op subscription not granted")
        self._acker = threading.Thread(target=self._ack_loop, daemon=True)
        self._acker.start()

    def _on_message(self, _c: mqtt.Client, _u: Any, message: mqtt.MQTTMessage) -> None:
        self.count += 1
        payload = message.payload
        start = payload.find(b'"seq":') + 6
        seq = int(payload[start : payload.find(b",", start)])
        station = message.topic
        if seq > self._highest.get(station, 0):
            self._highest[station] = seq

    def _ack_loop(self) -> None:
        while not self._stop.wait(0.005):
            for events_topic, seq in list(self._highest.items()):
                if self._published.get(events_topic) != seq:
                    ack_topic = events_topic.rsplit("/", 1)[0] + "/" + Channel.ACK
                    at = datetime.now(UTC)
                    self._client.publish(
                        ack_topic, AckWatermark(seq=seq, at=at).to_payload(), qos=1, retain=True
                    )
                    self._published[events_topic] = seq

    def close(self) -> None:
        self._stop.set()
        self._acker.join()
        self._client.disconnect()
        self._client.loop_stop()


def clear_acks(broker: Broker) -> None:
    """Remove the retained ``ack`` of every station, so a new phase starts from nothing."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-clear", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(broker.central.username, broker.central.password)
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    try:
        for credentials in broker.stations:
            station = StationId.parse(credentials.username)
            client.publish(topic(station, Channel.ACK), b"", qos=1, retain=True).wait_for_publish(
                10
            )
    finally:
        client.disconnect()
        client.loop_stop()


def raw_broker_rate(broker: Broker, total_per_station: int, args: argparse.Namespace) -> float:
    clear_acks(broker)
    subscriber = NoopSubscriber(broker)
    try:
        total = total_per_station * len(broker.stations)
        start_at, _ = run_publishers(
            broker.host,
            broker.port,
            broker.stations,
            first_seq=1,
            count=total_per_station,
            rate=None,
            window=args.window,
            processes=args.publishers,
        )
        wait_for(lambda: subscriber.count >= total, PHASE_TIMEOUT_S, "raw: events missing")
        return total / (time.time() - start_at)
    finally:
        subscriber.close()


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
    broker: Broker, url: str, batch_size: int, clock: CommitClock
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


def ingest_phases(
    broker: Broker, url: str, args: argparse.Namespace
) -> tuple[float, list[float], float | None]:
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
    total = per_station * len(broker.stations)
    clock = CommitClock()
    with running_ingest(broker, url, args.batch_size, clock) as central:
        cpu_before = time.process_time()  # this process: central's threads (and polling)
        start_at, _ = run_publishers(
            broker.host,
            broker.port,
            broker.stations,
            first_seq=1,
            count=per_station,
            rate=None,
            window=args.window,
            processes=args.publishers,
        )
        wait_for(lambda: central.stats().stored >= total, PHASE_TIMEOUT_S, "ingest: events missing")
        sustained = total / (time.time() - start_at)
        print(f"  central CPU: {(time.process_time() - cpu_before) / total * 1e6:.0f} us/event")
        steady = int(args.rate * args.latency_seconds) // len(broker.stations)
        clock.enabled = True
        _, sent = run_publishers(
            broker.host,
            broker.port,
            broker.stations,
            first_seq=per_station + 1,
            count=steady,
            rate=args.rate,
            window=args.window,
            processes=args.publishers,
        )
        wait_for(
            lambda: central.stats().stored >= total + steady * len(broker.stations),
            PHASE_TIMEOUT_S,
            "latency: events missing",
        )
    latencies = clock.latencies(sent)
    drained = drain_rate(broker, url, args, first_seq=per_station + steady + 1)
    return sustained, latencies, drained


def drain_rate(broker: Broker, url: str, args: argparse.Namespace, first_seq: int) -> float | None:
    """Events/s central takes from a queue the broker filled while it was stopped.

    The sustained figure has the publishers (and the broker's work for them) on the same
    cores as central; here they are done before central starts, so the figure is central's
    own capacity, which a central that comes back to a backlog shows. Returns None when
    the preload is 0.
    """
    per_station = int(args.preload) // len(broker.stations)
    if per_station < 1:
        return None
    run_publishers(
        broker.host,
        broker.port,
        broker.stations,
        first_seq=first_seq,
        count=per_station,
        rate=None,
        window=None,  # central is stopped: its session queues everything
        processes=args.publishers,
    )
    total = per_station * len(broker.stations)
    began = time.perf_counter()
    cpu_before = time.process_time()
    with running_ingest(broker, url, args.batch_size, CommitClock()) as central:
        wait_for(lambda: central.stats().stored >= total, PHASE_TIMEOUT_S, "drain: events missing")
        seconds = time.perf_counter() - began
        print(
            f"  central CPU (drain): {(time.process_time() - cpu_before) / total * 1e6:.0f} us/event"
        )
    return total / seconds


# --- the trace data set ----------------------------------------------------------------------


# The trace data set, generated by the database itself (a million rows through Python
# would take minutes): what the ingest stores for read events of one station, lots of
# 1,000 items over four GTINs, one event every 50 ms.
_GTIN_CASE = "CASE n % 4 " + " ".join(f"WHEN {i} THEN '{g}'" for i, g in enumerate(GTINS)) + " END"
_LOAD_POSTGRES = f"""
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT md5(n::text || random()::text)::uuid, '1.1', 'trace', 'L1', 'pack-1', n, 'read',
    at, 25200, at, 'DataMatrix', ']d2', '01' || gtin || '10' || lot || chr(29) || '21' || serial,
    gtin, serial, lot, 3,
    json_build_object('schema_version', '1.1', 'site', 'trace', 'line', 'L1',
        'station', 'pack-1', 'seq', n, 'kind', 'read', 'observed_at', at,
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01' || gtin || '10' || lot || chr(29) || '21' || serial,
        'gs1', json_build_object('01', gtin, '10', lot, '21', serial), 'frames', 3)
FROM (
    SELECT n, {_GTIN_CASE} AS gtin, 'T' || lpad((n / {ITEMS_PER_LOT})::text, 5, '0') AS lot,
        lpad(n::text, 8, '0') AS serial,
        timestamptz '2025-03-01 01:00:00+00' + n * interval '50 milliseconds' AS at
    FROM generate_series(1, :count) AS n
) AS generated
"""
_LOAD_SQLITE = f"""
WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < :count),
generated AS (
    SELECT n, {_GTIN_CASE} AS gtin, 'T' || printf('%05d', n / {ITEMS_PER_LOT}) AS lot,
        printf('%08d', n) AS serial,
        strftime('%Y-%m-%d %H:%M:%f', '2025-03-01 01:00:00', '+' || (n * 0.05) || ' seconds')
            || '000' AS at
    FROM numbers
)
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT lower(hex(randomblob(16))), '1.1', 'trace', 'L1', 'pack-1', n, 'read', at, 25200, at,
    'DataMatrix', ']d2', '01' || gtin || '10' || lot || char(29) || '21' || serial,
    gtin, serial, lot, 3,
    json_object('schema_version', '1.1', 'site', 'trace', 'line', 'L1', 'station', 'pack-1',
        'seq', n, 'kind', 'read', 'observed_at', replace(at, ' ', 'T') || '+00:00',
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01' || gtin || '10' || lot || char(29) || '21' || serial,
        'gs1', json_object('01', gtin, '10', lot, '21', serial), 'frames', 3)
FROM generated
"""


def bulk_load(engine: Engine, count: int) -> float:
    """Put ``count`` events straight into ``events``; return the seconds it took.

    The indexes are dropped for the load and built afterwards: the same end state, much
    faster than maintaining them row by row.
    """
    began = time.perf_counter()
    with engine.begin() as connection:
        for index in events.indexes:
            index.drop(connection)
        postgres = connection.dialect.name == "postgresql"
        connection.execute(sa.text(_LOAD_POSTGRES if postgres else _LOAD_SQLITE), {"count": count})
        for index in events.indexes:
            index.create(connection)
        if postgres:
            # What autovacuum does soon after a load; the service never runs ANALYZE on
            # SQLite, so neither does the benchmark.
            connection.exec_driver_sql("ANALYZE events")
    return time.perf_counter() - began


def trace_timings(engine: Engine, count: int) -> dict[str, float]:
    """Median milliseconds of a lot trace and of a per-code lookup (each checked)."""
    lot_count = max(1, count // ITEMS_PER_LOT)
    lots = [f"T{n:05d}" for n in range(1, lot_count + 1, max(1, lot_count // QUERY_REPEATS))]
    serials = [f"{n:08d}" for n in range(7, count + 1, max(1, count // QUERY_REPEATS))]
    timings: dict[str, float] = {}
    with engine.connect() as connection:

        def lookup(serial: str) -> None:
            found = find_events(connection, EventQuery(code=serial, limit=10)).events
            if [event.payload["seq"] for event in found] != [int(serial)]:
                raise AssertionError(f"code {serial}: found {len(found)} events, not 1")

        timings["code lookup"] = _median_ms(lookup, serials)
        try:
            from linetrace.central.traces import trace_lot
        except ImportError:
            return timings

        def trace(lot: str) -> None:
            if not trace_lot(connection, lot).items.items:
                raise AssertionError(f"lot {lot}: the trace lists no items")

        timings["lot trace"] = _median_ms(trace, lots)
    return timings


def _median_ms(run: Callable[[str], object], keys: Sequence[str]) -> float:
    run(keys[0])  # warm the caches the way a running service has them
    times = []
    for key in keys[:QUERY_REPEATS]:
        began = time.perf_counter()
        run(key)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


# --- databases -------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    return os.environ.get(
        "LINETRACE_BENCH_DATABASE_URL",
        os.environ.get(
            "LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    admin_url = make_url(postgres_admin_url())
    libpq = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}")
        yield None
        return
    name = f"linetrace_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str, folder: Path, label: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{label}.db'}"
        return
    with throwaway_postgres() as url:
        yield url


# --- main ------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


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
    parser.add_argument("--publishers", type=int, default=2, help="publisher processes")
    parser.add_argument(
        "--preload",
        type=int,
        default=DEFAULT_PRELOAD,
        help="events queued while central is stopped, for the drain rate (0: skip)",
    )
    args = parser.parse_args(argv)
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"cores: {os.cpu_count()}, events: {args.events}, stations: {args.stations}, batch size: {args.batch_size}"
    )
    with tempfile.TemporaryDirectory(prefix="linetrace-bench-") as tmp:
        folder = Path(tmp)
        with running_broker(folder, args.stations) as broker:
            raw = raw_broker_rate(broker, args.events // args.stations, args)
            print(f"raw broker rate (no-op subscriber): {raw:,.0f} events/s")
            for kind in kinds:
                with database(kind, folder, "ingest") as url:
                    if url is None:
                        continue
                    sustained, latencies, drained = ingest_phases(broker, url, args)
                    print(
                        f"{kind}: sustained {sustained:,.0f} events/s ({sustained / raw:.0%} of raw)"
                    )
                    if drained is not None:
                        print(
                            f"{kind}: drain of a {args.preload:,}-event backlog: "
                            f"{drained:,.0f} events/s ({drained / raw:.0%} of raw)"
                        )
                    if latencies:
                        print(
                            f"{kind}: latency at {args.rate:,.0f} events/s: "
                            f"p50 {percentile(latencies, 0.5) * 1000:.0f} ms, "
                            f"p99 {percentile(latencies, 0.99) * 1000:.0f} ms ({len(latencies)} events)"
                        )
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
                shown = ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())
                print(
                    f"{kind}: {args.trace_rows:,} events loaded in {loaded:.0f} s; median {shown}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
