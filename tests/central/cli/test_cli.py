"""``linetrace central migrate | events | run``: in-process, and the service as a real process."""

from __future__ import annotations

import json
import signal
import threading
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import (
    event_row,
    events,
    head_revision,
    insert_events,
    open_engine,
)
from tests.central.central_main import main
from tests.central.helpers import STATION, Publisher, events_topic, make_event
from tests.central.running import START_TIMEOUT_S, service, write_config
from tests.conditions import wait_until
from tests.private_files import mode, umask


def test_migrate_then_events_prints_json_lines(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    config = write_config(tmp_path / "central.toml", url)
    assert main(["central", "migrate", "--config", str(config)]) == 0
    assert f"is at revision {head_revision()}" in capsys.readouterr().err
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            seeded = [make_event(n) for n in range(1, 4)]
            seeded.append(make_event(4, station="hcm1/L2/pack-1"))
            insert_events(
                connection,
                [event_row(e, json.loads(e.to_payload()), e.observed_at) for e in seeded],
            )
    finally:
        engine.dispose()

    def printed(*options: str) -> list[int]:
        assert main(["central", "events", "--config", str(config), *options]) == 0
        return [json.loads(line)["seq"] for line in capsys.readouterr().out.splitlines()]

    assert printed() == [4, 3, 2, 1]
    assert printed("--station", STATION, "--limit", "2") == [3, 2]
    assert printed("--code", "000002") == [2]


def test_events_on_an_empty_database_says_to_migrate(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    config = write_config(tmp_path / "central.toml", f"sqlite:///{tmp_path / 'new.db'}")
    assert main(["central", "events", "--config", str(config)]) == 1
    assert "linetrace central migrate" in capsys.readouterr().err


def test_migrate_keeps_the_default_database_private_in_its_state_dir(tmp_path: Path) -> None:
    state = tmp_path / "state"
    state.mkdir()
    state.chmod(0o755)  # as an older version left it
    config = tmp_path / "central.toml"
    config.write_text(f'state_dir = "{state}"\n')
    with umask(0o000):
        assert main(["central", "migrate", "--config", str(config)]) == 0
    assert mode(state) == 0o700
    # The last connection closed checkpointed and removed the -wal and -shm; their modes
    # after a write are checked in tests/central/store/test_files.py.
    assert mode(state / "central.db") == 0o600


def test_a_bad_config_names_the_key(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "central.toml", "sqlite:///x.db", mqtt={"port": 0})
    assert main(["central", "migrate", "--config", str(config)]) == 2
    assert "mqtt.port" in capsys.readouterr().err


def test_a_bad_station_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write_config(tmp_path / "central.toml", f"sqlite:///{tmp_path / 'c.db'}")
    assert main(["central", "events", "--config", str(config), "--station", "a/b"]) == 2
    assert "must be SITE/LINE/STATION" in capsys.readouterr().err


# --- the service as a process ------------------------------------------------------------


def stored(database_url: str) -> list[int]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            return sorted(connection.execute(sa.select(events.c.seq)).scalars())
    finally:
        engine.dispose()


@pytest.fixture
def station(mqtt_broker: LocalBroker) -> Credentials:
    return mqtt_broker.station(STATION)


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_run_serves_what_it_ingests_and_stops_cleanly_on_a_signal(
    tmp_path: Path, mqtt_broker: LocalBroker, station: Credentials, stop_with: signal.Signals
) -> None:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    with (
        service(tmp_path, mqtt_broker, url) as central,
        Publisher(mqtt_broker.host, mqtt_broker.port, station.username, station.password) as pub,
    ):
        pub.publish(events_topic(), make_event(1).to_payload())
        pub.publish(events_topic(), b"junk")

        def served() -> bool:
            answer = httpx.get(f"{central.api}/api/events", headers=central.headers, timeout=1.0)
            body = answer.json()
            return [e["seq"] for e in body["events"]] == [1]

        wait_until(served)
        health = central.health()
        assert health is not None
        assert health["ingest"] is not None
        assert health["ingest"]["dead_lettered"] == 1  # type: ignore[index]
        # A clean stop exits 0: systemd counts 143 ("ended by SIGTERM") as a failure.
        assert central.stop(stop_with) == 0
    log = central.log.read_text()
    assert "Uvicorn running on http://127.0.0.1:" in log
    assert "ingest stopped: {'received': 2, 'stored': 1, 'duplicates': 0, 'dead_lettered': 1" in log
    assert "Application shutdown complete" in log


def test_a_killed_service_loses_and_doubles_nothing(
    tmp_path: Path, mqtt_broker: LocalBroker, station: Credentials
) -> None:
    total = 200
    url = f"sqlite:///{tmp_path / 'central.db'}"
    sent = threading.Event()

    def publish_all() -> None:
        with Publisher(
            mqtt_broker.host, mqtt_broker.port, station.username, station.password
        ) as pub:
            for seq in range(1, total + 1):
                pub.publish(events_topic(), make_event(seq).to_payload())
        sent.set()

    sender = threading.Thread(target=publish_all)
    with service(tmp_path, mqtt_broker, url) as central:
        sender.start()
        wait_until(lambda: len(stored(url)) >= total // 5)
        assert central.stop(signal.SIGKILL) == -signal.SIGKILL
    sender.join(timeout=30)
    assert sent.is_set()
    with service(tmp_path, mqtt_broker, url):
        wait_until(lambda: len(stored(url)) == total, START_TIMEOUT_S)
    assert stored(url) == list(range(1, total + 1))
