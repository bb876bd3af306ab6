"""The portal relay end to end: broker, ``linetrace central run`` and a sandbox, all real processes.

A station publishes scan events over MQTT, ``central run`` (Mosquitto via
:class:`LocalBroker`, SQLite or PostgreSQL) stores them and queues them in the same
transaction, and its relay child delivers them to ``linetrace portal sandbox`` running as
its own process and validating every document against GS1's EPCIS 2.0 JSON Schema.
Each case then compares the sandbox's store (``GET /events``, every stored copy) with
what central recorded: every relayable event accepted exactly once, nothing else there.

The sandbox is told to misbehave through its control endpoint (``POST /_sandbox/faults``),
and central is killed and restarted as a whole process group, so what is proven is what a
site would live through. Every wait is on a condition with a generous deadline: the
file must pass on a loaded 2-core box.
"""

from __future__ import annotations

import os
import signal
import subprocess
import threading
from collections import Counter
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Self
from uuid import UUID

import httpx
import pytest
import sqlalchemy as sa
import tomli_w

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_FILE
from linetrace.central.store import open_engine
from linetrace.central.store.relay_tables import relay_queue
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all, wait_for_port
from tests.central.helpers import Publisher, events_topic, make_event
from tests.conditions import wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

REPO_ROOT = Path(__file__).resolve().parents[2]
SCHEMA = REPO_ROOT.parent / "shared" / "epcis" / "schema" / EPCIS_SCHEMA_FILE
STATION = "hcm1/L1/pack-1"
TARGET = "repo"
# Importing, migrating, subscribing and spawning the relay child: seconds on a quiet box,
# many more beside two CPU-burning processes.
START_TIMEOUT_S = 90.0
# Relaying a few hundred events takes a second or two; faults, backoff and a restart add
# seconds; a loaded box multiplies all of it.
DELIVERY_TIMEOUT_S = 120.0
HTTP_TIMEOUT_S = 10.0
# Fast recovery so the file stays short: first retry after 0.2 s doubling to 2 s, a
# breaker that opens after 3 failed sends for 0.5 s, the idle poll every 100 ms.
RELAY_TUNING: dict[str, Any] = {
    "poll_interval_ms": 100,
    "retry_initial_s": 0.2,
    "retry_max_s": 2.0,
    "breaker_failures": 3,
    "breaker_open_s": 0.5,
}


@pytest.fixture
def schema(require: Callable[[bool, str], None]) -> Path:
    require(SCHEMA.is_file(), f"GS1 EPCIS JSON Schema missing: {SCHEMA}")
    return SCHEMA


class Sandbox:
    """``linetrace portal sandbox`` as a child process; faults set over its control endpoint."""

    def __init__(self, profile: str, schema: Path, folder: Path) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        argv = ["portal", "sandbox", "--profile", profile, "--port", str(self.port)]
        self.child = Child(
            f"sandbox-{profile}",
            linetrace_argv(*argv, "--schema", str(schema)),
            folder / f"sandbox-{profile}.log",
        )

    def start(self) -> Sandbox:
        self.child.start()
        wait_for_port("127.0.0.1", self.port, START_TIMEOUT_S, self.child)
        return self

    def faults(self, **plan: object) -> None:
        response = httpx.post(f"{self.url}/_sandbox/faults", json=plan, timeout=HTTP_TIMEOUT_S)
        response.raise_for_status()

    def stats(self) -> dict[str, Any]:
        body: dict[str, Any] = httpx.get(
            f"{self.url}/_sandbox/stats", timeout=HTTP_TIMEOUT_S
        ).json()
        return body

    def stored(self) -> list[dict[str, Any]]:
        """Every event the sandbox stored (a duplicate appears twice at ``epcis-sync``)."""
        document = httpx.get(f"{self.url}/events", timeout=HTTP_TIMEOUT_S).json()
        events: list[dict[str, Any]] = document["epcisBody"]["queryResults"]["resultsBody"][
            "eventList"
        ]
        return events


class Central:
    """One ``linetrace central run`` with a ``[[relay.targets]]`` of kind epcis."""

    def __init__(
        self,
        name: str,
        broker: LocalBroker,
        database_url: str,
        folder: Path,
        target_url: str,
        *,
        relay: dict[str, Any] | None = None,
        target: dict[str, Any] | None = None,
    ) -> None:
        credentials = broker.service(name)
        self.database_url = database_url
        self.api = f"http://127.0.0.1:{free_port()}"
        self.config = folder / f"{name}.toml"
        settings = {
            "state_dir": str(folder / name),
            "database": {"url": database_url},
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": credentials.username,
                "client_id": f"linetrace-{name}",
            },
            "api": {"port": int(self.api.rsplit(":", 1)[1])},
            "relay": {
                **RELAY_TUNING,
                **(relay or {}),
                "targets": [{"name": TARGET, "kind": "epcis", "url": target_url, **(target or {})}],
            },
        }
        self.config.write_text(tomli_w.dumps(settings))
        self.child = Child(
            name,
            linetrace_argv("central", "run", "--config", str(self.config)),
            folder / f"{name}.log",
            env={"LINETRACE_CENTRAL_MQTT__PASSWORD": credentials.password},
        )

    def ready(self) -> bool:
        if not self.child.running:
            raise RuntimeError(f"{self.child.name} exited:\n{self.child.tail(40)}")
        try:
            response = httpx.get(f"{self.api}/healthz", timeout=HTTP_TIMEOUT_S)
        except httpx.TransportError:
            return False
        return bool(response.json()["status"] == "ok")

    def start(self) -> Central:
        self.child.start()
        wait_until(self.ready, START_TIMEOUT_S, f"{self.child.name} did not start")
        return self

    def add_station(self, station: str = STATION) -> None:
        add = linetrace_argv("central", "station", "add", station, "--config", str(self.config))
        subprocess.run(add, check=True, capture_output=True, timeout=START_TIMEOUT_S)

    def kill(self) -> None:
        """SIGKILL the whole process group: the service, its receiver and its relay child."""
        assert self.child.process is not None
        os.killpg(self.child.process.pid, signal.SIGKILL)
        self.child.process.wait(timeout=HTTP_TIMEOUT_S)
        self.child.stop()

    def log(self) -> str:
        return self.child.log_path.read_text(errors="replace")


def queue_rows(database_url: str) -> list[sa.Row[Any]]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            q = relay_queue.c
            return list(
                connection.execute(
                    sa.select(q.event_id, q.state, q.epcis_event_id, q.reason, q.claimed_by).where(
                        q.target == TARGET, q.action == "capture"
                    )
                )
            )
    finally:
        engine.dispose()


def settled(database_url: str, expected: int) -> Callable[[], bool]:
    """True once ``expected`` events are queued and each is accepted or rejected."""

    def check() -> bool:
        rows = queue_rows(database_url)
        return len(rows) == expected and all(r.state in ("accepted", "rejected") for r in rows)

    return check


def publish(broker: LocalBroker, first: int, count: int, station: str = STATION) -> list[UUID]:
    """Publish read events ``first`` .. ``first + count - 1`` as the station; their ids."""
    credentials = broker.station(station)
    events = [make_event(seq, station=station) for seq in range(first, first + count)]
    with Publisher(broker.host, broker.port, credentials.username, credentials.password) as pub:
        pub.publish_all(events_topic(station), [event.to_payload() for event in events])
    return [event.event_id for event in events]


def assert_delivered_once(
    sandbox: Sandbox,
    database_url: str,
    expected: set[UUID],
    rejected: frozenset[UUID] = frozenset(),
) -> None:
    """The sandbox holds each accepted event exactly once and nothing else; central agrees."""
    rows = queue_rows(database_url)
    by_state = {
        state: {r.event_id for r in rows if r.state == state} for state in ("accepted", "rejected")
    }
    assert {r.event_id for r in rows} == expected | rejected
    assert by_state["rejected"] == set(rejected), [r.reason for r in rows if r.state == "rejected"]
    assert by_state["accepted"] == expected
    stored = sandbox.stored()
    copies = Counter(event["eventID"] for event in stored)
    doubled = {event_id: n for event_id, n in copies.items() if n > 1}
    assert doubled == {}, f"{len(doubled)} events stored more than once"
    accepted_ids = {r.epcis_event_id for r in rows if r.state == "accepted"}
    assert set(copies) == accepted_ids
    # The sandbox's copies name central's stored events (our namespace), one each.
    assert {UUID(event["lt:eventId"]) for event in stored} == expected


# -- the cases --------------------------------------------------------------------------


def test_target_down_for_a_while_then_back_gets_everything_once(
    mqtt_broker: LocalBroker, schema: Path, tmp_path: Path
) -> None:
    sandbox = Sandbox("epcis-async", schema, tmp_path).start()
    database = f"sqlite:///{tmp_path / 'central.db'}"
    central = Central("central", mqtt_broker, database, tmp_path, sandbox.url)
    try:
        central.start()
        central.add_station()
        # Down: every connection is cut unanswered (the client sees a transport error,
        # as when a repository restarts), so the sends are in doubt and are asked about.
        sandbox.faults(down=True)
        ids = publish(mqtt_broker, 1, 200)
        wait_until(
            lambda: sandbox.stats()["faults_injected"].get("down", 0) >= 3,
            DELIVERY_TIMEOUT_S,
            "the relay never tried the target while it was down",
        )
        assert sandbox.stats()["stored_events"] == 0  # GET /events is down too
        ids += publish(mqtt_broker, 201, 100)  # more arrive while it is down
        sandbox.faults(down=False)
        wait_until(settled(database, len(ids)), DELIVERY_TIMEOUT_S, "not all delivered")
        assert_delivered_once(sandbox, database, set(ids))
    finally:
        stop_all([central.child, sandbox.child])
    assert "Traceback" not in central.log(), central.log()[-4000:]


def test_a_429_storm_and_a_413_are_ridden_out(
    mqtt_broker: LocalBroker, schema: Path, tmp_path: Path
) -> None:
    sandbox = Sandbox("epcis-async", schema, tmp_path).start()
    database = f"sqlite:///{tmp_path / 'central.db'}"
    central = Central("central", mqtt_broker, database, tmp_path, sandbox.url)
    try:
        central.start()
        central.add_station()
        # Throttled (429 with Retry-After: 1) for 3 s, and any body over 8,000 bytes is
        # refused with 413 although the sandbox advertises 100,000: the relay must wait as
        # told, then halve its documents until they fit.
        sandbox.faults(throttle_for_s=3.0, retry_after_s=1, max_body_bytes=8000)
        ids = publish(mqtt_broker, 1, 300)
        wait_until(settled(database, len(ids)), DELIVERY_TIMEOUT_S, "not all delivered")
        stats = sandbox.stats()
        assert_delivered_once(sandbox, database, set(ids))
    finally:
        stop_all([central.child, sandbox.child])
    assert stats["responses"].get("429", 0) >= 1, stats
    assert stats["responses"].get("413", 0) >= 1, stats
    assert "Traceback" not in central.log(), central.log()[-4000:]


def test_one_malformed_event_is_rejected_alone(
    mqtt_broker: LocalBroker, schema: Path, tmp_path: Path
) -> None:
    """An event whose clock offset is +15:00 passes central's checks (a valid RFC 3339
    time) but no real time zone is that far east: GS1's schema allows
    ``eventTimeZoneOffset`` only from -13:59 to +14:00. So the one event, among good ones
    from the same station and in the same documents, reaches the target through the real
    pipeline and is refused by its schema check; the rest must go through."""
    sandbox = Sandbox("epcis-async", schema, tmp_path).start()
    database = f"sqlite:///{tmp_path / 'central.db'}"
    central = Central("central", mqtt_broker, database, tmp_path, sandbox.url)
    try:
        central.start()
        central.add_station()
        credentials = mqtt_broker.station(STATION)
        good = [make_event(seq) for seq in range(1, 151)]
        far_east = timezone(timedelta(hours=15))
        bad = make_event(151, observed_at=datetime(2025, 3, 2, 8, 0, tzinfo=far_east))
        good += [make_event(seq) for seq in range(152, 301)]
        with Publisher(mqtt_broker.host, mqtt_broker.port, credentials.username,
                       credentials.password) as pub:  # fmt: skip
            payloads = [e.to_payload() for e in good[:150]] + [bad.to_payload()]
            pub.publish_all(events_topic(), payloads + [e.to_payload() for e in good[150:]])
        expected = {event.event_id for event in good}
        wait_until(settled(database, len(expected) + 1), DELIVERY_TIMEOUT_S, "not all settled")
        assert_delivered_once(sandbox, database, expected, frozenset({bad.event_id}))
        reason = next(r.reason for r in queue_rows(database) if r.event_id == bad.event_id)
    finally:
        stop_all([central.child, sandbox.child])
    assert "eventTimeZoneOffset" in (reason or ""), reason


def test_central_killed_mid_delivery_loses_and_doubles_nothing(
    mqtt_broker: LocalBroker, schema: Path, tmp_path: Path
) -> None:
    """``epcis-sync`` stores a resent event twice, so a resend that the ledger or the
    lookup of in-doubt events did not stop would show as a doubled event."""
    sandbox = Sandbox("epcis-sync", schema, tmp_path).start()
    # Slow answers and small documents, one at a time: delivery takes seconds, so the
    # kill lands in the middle of it; a short lease so the killed claims lapse soon.
    sandbox.faults(latency_ms=150)
    database = f"sqlite:///{tmp_path / 'central.db'}"

    def central() -> Central:
        return Central(
            "central", mqtt_broker, database, tmp_path, sandbox.url,
            relay={"lease_s": 3.0}, target={"max_events": 10, "concurrency": 1},
        )  # fmt: skip

    first = central()
    try:
        first.start()
        first.add_station()
        ids = publish(mqtt_broker, 1, 300)
        wait_until(
            lambda: sandbox.stats()["stored_events"] >= 30,
            DELIVERY_TIMEOUT_S,
            "delivery never started",
        )
        first.kill()
        assert sandbox.stats()["stored_events"] < len(ids), "delivery finished before the kill"
        second = central().start()
        try:
            wait_until(settled(database, len(ids)), DELIVERY_TIMEOUT_S, "not all delivered")
            assert_delivered_once(sandbox, database, set(ids))
        finally:
            stop_all([second.child])
    finally:
        stop_all([first.child, sandbox.child])


class ClaimWatcher:
    """Samples which relay workers hold claims, to show both instances took a share."""

    def __init__(self, database_url: str) -> None:
        self.seen: set[str] = set()
        self._stop = threading.Event()
        self._engine = open_engine(database_url)
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        q = relay_queue.c
        query = sa.select(q.claimed_by).where(q.claimed_by.is_not(None)).distinct()
        while not self._stop.wait(0.02):
            with self._engine.connect() as connection:
                self.seen.update(connection.execute(query).scalars())

    def __enter__(self) -> Self:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(HTTP_TIMEOUT_S)
        self._engine.dispose()


@pytest.mark.postgres
def test_two_instances_on_postgresql_never_send_an_event_twice(
    mqtt_broker: LocalBroker, schema: Path, postgres_database: str, tmp_path: Path
) -> None:
    """Both relays claim from one queue (``FOR UPDATE SKIP LOCKED`` and a lease); the
    ``epcis-sync`` target stores whatever it is sent, so an event sent by both would
    show twice. Slow answers and small documents keep both relays busy at once."""
    sandbox = Sandbox("epcis-sync", schema, tmp_path).start()
    sandbox.faults(latency_ms=100)
    centrals = [
        Central(
            name,
            mqtt_broker,
            postgres_database,
            tmp_path,
            sandbox.url,
            target={"max_events": 20, "concurrency": 1},
        )
        for name in ("central-a", "central-b")
    ]
    try:
        for central in centrals:  # together: they migrate the empty database at once
            central.child.start()
        for central in centrals:
            wait_until(central.ready, START_TIMEOUT_S, f"{central.child.name} did not start")
        centrals[0].add_station()
        with ClaimWatcher(postgres_database) as claims:
            ids = publish(mqtt_broker, 1, 600)
            wait_until(
                settled(postgres_database, len(ids)), DELIVERY_TIMEOUT_S, "not all delivered"
            )
        assert_delivered_once(sandbox, postgres_database, set(ids))
    finally:
        stop_all([*(c.child for c in centrals), sandbox.child])
    assert len({worker.rsplit(":", 2)[1] for worker in claims.seen}) >= 2, claims.seen
    for central in centrals:
        assert "Traceback" not in central.log(), central.log()[-4000:]
