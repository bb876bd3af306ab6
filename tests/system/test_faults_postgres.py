"""PostgreSQL restarted under ``central run`` while stations publish: nothing lost or doubled.

The database is a cluster of the test's own (:class:`~tests.system.pg_cluster.PgCluster`),
so stopping it disturbs nobody else. Stations keep publishing through the outage; central
must say so on ``/healthz`` (503, ``failing``), keep what it received unacknowledged (the
broker's persistent session holds the rest), find the database again by itself, and end
with every event stored exactly once and every station's watermark at its last ``seq``.
"""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import tomli_w

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import events, open_engine, station_progress
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all
from tests.central.helpers import Publisher, events_topic, make_event
from tests.conditions import wait_until
from tests.system.pg_cluster import PgCluster, find_pg_bin

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.postgres]

STATIONS = ["hcm1/L1/pack-1", "hcm1/L2/case-1"]
# Migrating a fresh database and starting the API on a loaded box.
START_TIMEOUT_S = 60.0
# Central retries a dead database with a backoff that doubles from half a second: after
# an outage of a few seconds it tries again within about as long.
RECOVERY_TIMEOUT_S = 45.0
# Events stored before the restart, and after it, before the stations stop publishing.
BEFORE, AFTER = 100, 100


@pytest.fixture
def cluster(require: Callable[[bool, str], None]) -> Iterator[PgCluster]:
    bindir = find_pg_bin()
    require(bindir is not None, "PostgreSQL's server (initdb, pg_ctl) is not installed")
    assert bindir is not None
    with PgCluster(bindir) as made:
        yield made


class Stations:
    """Stations publishing numbered events, one thread each, until :meth:`stop`."""

    def __init__(self, broker: LocalBroker) -> None:
        self.sent = dict.fromkeys(STATIONS, 0)
        self.errors: list[BaseException] = []
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._publish, args=(broker, station)) for station in STATIONS
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(START_TIMEOUT_S)

    def _publish(self, broker: LocalBroker, station: str) -> None:
        try:
            credentials = broker.station(station)
            with Publisher(
                broker.host, broker.port, credentials.username, credentials.password
            ) as pub:
                while not self._stop.is_set():
                    seq = self.sent[station] + 1
                    pub.publish(
                        events_topic(station), make_event(seq, station=station).to_payload()
                    )
                    self.sent[station] = seq
                    # One event per PUBACK round trip: a steady flow, not a flood that
                    # would bury the restart under the backlog.
                    self._stop.wait(0.005)
        except BaseException as exc:  # noqa: BLE001 - reported by the test
            self.errors.append(exc)


@pytest.mark.parametrize("shutdown", ["fast", "immediate"])
def test_central_rides_out_a_postgres_restart(
    mqtt_broker: LocalBroker, cluster: PgCluster, tmp_path: Path, shutdown: str
) -> None:
    """``fast`` is an operator's restart, ``immediate`` a crash of the server."""
    credentials = mqtt_broker.service("central")
    api = f"http://127.0.0.1:{free_port()}"
    config = tmp_path / "central.toml"
    config.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(tmp_path / "central"),
                "database": {"url": cluster.url()},
                "mqtt": {
                    "host": mqtt_broker.host,
                    "port": mqtt_broker.port,
                    "username": credentials.username,
                },
                "api": {"port": int(api.rsplit(":", 1)[1])},
            }
        )
    )
    central = Child(
        "central",
        linetrace_argv("central", "run", "--config", str(config)),
        tmp_path / "central.log",
        env={"LINETRACE_CENTRAL_MQTT__PASSWORD": credentials.password},
    )

    def health() -> dict[str, Any]:
        if not central.running:
            raise AssertionError(f"central exited:\n{central.tail(40)}")
        try:
            report: dict[str, Any] = httpx.get(f"{api}/healthz", timeout=5).json()
        except httpx.TransportError:
            return {"status": "unreachable", "ingest": None}
        return report

    def stored() -> int:
        ingest = health()["ingest"]
        return int(ingest["stored"]) if ingest else 0

    stations = Stations(mqtt_broker)
    try:
        central.start()
        wait_until(lambda: health()["status"] == "ok", START_TIMEOUT_S, "central never ok")
        for station in STATIONS:
            add = ["central", "station", "add", station, "--config", str(config)]
            subprocess.run(linetrace_argv(*add), check=True, capture_output=True)
        stations.start()
        wait_until(lambda: stored() >= BEFORE, START_TIMEOUT_S, "nothing stored")

        cluster.stop(shutdown)
        wait_until(
            lambda: health()["status"] == "failing", RECOVERY_TIMEOUT_S, "outage not reported"
        )
        # Down long enough for the writer to fail and retry, with events piling up.
        sent_while_down = sum(stations.sent.values())
        wait_until(
            lambda: (
                health()["ingest"]["store_failures"] >= 2
                and sum(stations.sent.values()) > sent_while_down + 50
            ),
            RECOVERY_TIMEOUT_S,
            "the writer never met the outage",
        )
        cluster.start()
        wait_until(
            lambda: health()["status"] == "ok", RECOVERY_TIMEOUT_S, "central did not recover"
        )
        resumed = stored()
        wait_until(lambda: stored() >= resumed + AFTER, RECOVERY_TIMEOUT_S, "ingest stalled")
        stations.stop()
        assert stations.errors == []
        total = sum(stations.sent.values())
        wait_until(lambda: stored() >= total, RECOVERY_TIMEOUT_S, "not every event stored")
        ingest = health()["ingest"]
    finally:
        stations.stop()
        stop_all([central])

    log = central.log_path.read_text()
    assert "Traceback" not in log, log[-4000:]
    assert ingest["stored"] == total
    assert ingest["dead_lettered"] == 0
    engine = open_engine(cluster.url())
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(events.c.station, events.c.seq)).all()
            progress = sa.select(station_progress.c.station, station_progress.c.watermark)
            watermarks = {row.station: row.watermark for row in connection.execute(progress)}
    finally:
        engine.dispose()
    for station in STATIONS:
        name = station.rsplit("/", 1)[1]
        seqs = sorted(row.seq for row in rows if row.station == name)
        assert seqs == list(range(1, stations.sent[station] + 1)), station
        assert watermarks[name] == stations.sent[station]
    assert len(rows) == total
