"""The receiver process against a real Mosquitto: killed, restarted, refused stale
acknowledgements, a stopped or failed writer, and no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.api.app import create_app
from linetrace.central.config import IngestSettings
from linetrace.central.ingest.write_batch import BatchResult, Inbound
from linetrace.central.store import events
from tests.central.helpers import STATION, events_topic, make_event
from tests.central.ingest.test_ingest import (
    SILENCE_S,
    count,
    publisher,
    running,
    settings_for,
    settled,
)
from tests.central.running import service
from tests.conditions import WAIT_S, wait_until

# A killed process is reaped by its parent within milliseconds; a loaded box gets headroom.
EXIT_WAIT_S = 10.0


@pytest.fixture
def station(mqtt_broker: LocalBroker) -> Credentials:
    return mqtt_broker.station(STATION)


def alive(pid: int) -> bool:
    """True while ``pid`` runs (a zombie, dead but not reaped, counts as gone)."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except FileNotFoundError:
        return False
    return state != "Z"


def children(pid: int) -> list[int]:
    """The direct child processes of ``pid`` (Linux)."""
    found = []
    for task in Path(f"/proc/{pid}/task").iterdir():
        found += [int(child) for child in (task / "children").read_text().split()]
    return found


class Gate:
    """A commit listener that holds the writer after its first commit until opened."""

    def __init__(self) -> None:
        self.holding = threading.Event()
        self.open = threading.Event()

    def __call__(self, _messages: Sequence[Inbound], _result: BatchResult) -> None:
        if not self.open.is_set():
            self.holding.set()
            self.open.wait(WAIT_S)


def test_the_receiver_imports_neither_the_database_nor_the_api() -> None:
    probe = (
        "import sys, linetrace.central.ingest.receiver; "
        "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'psycopg') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip() == "[]"


def test_a_killed_receiver_is_restarted_and_every_event_stored_once(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    total = 300
    settings = settings_for(
        mqtt_broker, database_url, IngestSettings(batch_size=20, max_in_flight=50)
    )
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        first_pid = ingest.receiver_pid
        assert first_pid is not None
        for seq in range(1, total // 2 + 1):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: ingest.stats().stored >= total // 4)
        os.kill(first_pid, signal.SIGKILL)
        wait_until(lambda: not ingest.connected)
        for seq in range(total // 2 + 1, total + 1):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: ingest.subscribed)
        wait_until(lambda: count(database_url, events) == total, timeout=30)
        stats = ingest.stats()
        assert ingest.receiver_pid not in (None, first_pid)
    assert not alive(first_pid)
    assert stats.receiver_restarts == 1
    assert (stats.stored, stats.dead_lettered) == (total, 0)


def test_acknowledgements_of_an_earlier_connection_are_refused_and_the_events_come_again(
    mqtt_broker: LocalBroker, station: Credentials, database_url: str
) -> None:
    total = 5
    settings = settings_for(mqtt_broker, database_url)
    gate = Gate()
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        ingest.add_commit_listener(gate)
        pub.publish(events_topic(), make_event(1).to_payload())
        assert gate.holding.wait(WAIT_S)
        # The writer is held after committing event 1: the rest waits, unacknowledged.
        for seq in range(2, total + 1):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: ingest.stats().received == total)
        mqtt_broker.stop()  # a new connection: the held messages' packet ids mean nothing
        wait_until(lambda: not ingest.connected)
        mqtt_broker.start()
        wait_until(lambda: ingest.subscribed)
        gate.open.set()
        wait_until(lambda: ingest.stats().stale_acks >= total - 1)
        # The broker kept them in the session and hands them out again: stored once.
        wait_until(lambda: ingest.stats().duplicates >= total - 1)
        wait_until(lambda: settled(ingest, ingest.stats().received))
        stats = ingest.stats()
    assert count(database_url, events) == total
    assert stats.stored == total


def test_nothing_is_acknowledged_after_the_writer_failed(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    settings = settings_for(mqtt_broker, sqlite_url, IngestSettings(batch_size=1))

    def fail(_messages: Sequence[Inbound], _result: BatchResult) -> None:
        raise RuntimeError("a listener that fails")

    with running(settings) as broken, publisher(mqtt_broker, station) as pub:
        broken.add_commit_listener(fail)
        pub.publish(events_topic(), make_event(1).to_payload())
        wait_until(lambda: broken.stats().stored == 1)
        for seq in range(2, 6):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: broken.stats().received == 5)
        time.sleep(SILENCE_S)
        stats = broken.stats()
    assert (stats.stored, stats.acked, stats.queued) == (1, 1, 4)
    with running(settings) as again:  # the broker hands out the four never acknowledged
        wait_until(lambda: settled(again, 4))
        assert again.stats().stored == 4
    assert count(sqlite_url, events) == 5


def test_healthz_is_degraded_once_the_writer_failed(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    settings = settings_for(mqtt_broker, sqlite_url, IngestSettings(batch_size=1))

    def fail(_messages: Sequence[Inbound], _result: BatchResult) -> None:
        raise RuntimeError("a listener that fails")

    with (
        TestClient(create_app(settings, run_ingest=True)) as client,
        publisher(mqtt_broker, station) as pub,
    ):
        ingest = client.app.state.ingest  # type: ignore[attr-defined]
        wait_until(lambda: ingest.stats().subscribed)
        healthy = client.get("/healthz").json()
        ingest.add_commit_listener(fail)
        pub.publish(events_topic(), make_event(1).to_payload())
        wait_until(lambda: not ingest.stats().writing)
        failed = client.get("/healthz").json()
    assert (healthy["status"], healthy["ingest"]["writing"]) == ("ok", True)
    assert (failed["status"], failed["ingest"]["writing"]) == ("degraded", False)
    assert failed["ingest"]["subscribed"] is True  # the broker is fine: the writer is not


def test_stop_commits_and_acknowledges_everything_received_and_ends_the_receiver(
    mqtt_broker: LocalBroker, station: Credentials, sqlite_url: str
) -> None:
    total = 200
    settings = settings_for(mqtt_broker, sqlite_url, IngestSettings(flush_interval_ms=1000))
    with running(settings) as ingest, publisher(mqtt_broker, station) as pub:
        pid = ingest.receiver_pid
        assert pid is not None
        for seq in range(1, total + 1):
            pub.publish(events_topic(), make_event(seq).to_payload())
        wait_until(lambda: ingest.stats().received == total)
    # Stopped with the batch still waiting for its flush interval in the receiver.
    stats = ingest.stats()
    assert (stats.stored, stats.acked, stats.queued) == (total, total, 0)
    wait_until(lambda: not alive(pid), timeout=EXIT_WAIT_S)
    with running(settings) as again:
        time.sleep(SILENCE_S)
        assert again.stats().received == 0


def test_the_receiver_exits_when_the_service_is_killed_and_nothing_is_lost(
    tmp_path: Path, mqtt_broker: LocalBroker, station: Credentials
) -> None:
    total = 100
    url = f"sqlite:///{tmp_path / 'central.db'}"
    with service(tmp_path, mqtt_broker, url) as central:
        left = children(central.process.pid)
        assert left, "the service runs its receiver in a child process"
        with publisher(mqtt_broker, station) as pub:
            for seq in range(1, total // 2 + 1):
                pub.publish(events_topic(), make_event(seq).to_payload())
        central.stop(signal.SIGKILL)
        wait_until(lambda: not any(alive(pid) for pid in left), timeout=EXIT_WAIT_S)
    with publisher(mqtt_broker, station) as pub:
        for seq in range(total // 2 + 1, total + 1):
            pub.publish(events_topic(), make_event(seq).to_payload())
    with service(tmp_path, mqtt_broker, url) as again:
        wait_until(lambda: count(url, events) == total, timeout=30)

        def all_acknowledged() -> bool:
            health = again.health()
            ingest = health["ingest"] if health is not None else None
            assert isinstance(ingest, dict)
            return bool(ingest["acked"] == ingest["received"] and ingest["queued"] == 0)

        wait_until(all_acknowledged)
