"""Two ``linetrace central run`` processes on one broker and one PostgreSQL database.

They start at the same moment on an empty database (so both migrate at once), share the
events subscription, and several stations publish concurrently. Every event must be
stored exactly once, both instances must have taken a share, and every station's
watermark must end at its last seq, in the database and on its retained ``ack`` topic.
"""

from __future__ import annotations

import json
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import tomli_w
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import Channel, StationId, subscription, topic
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import events, open_engine
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all
from tests.central.auth_helpers import login_headers
from tests.central.helpers import Publisher, events_topic, make_event
from tests.conditions import wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.postgres]

STATIONS = ["hcm1/L1/pack-1", "hcm1/L1/pack-2", "hcm1/L2/case-1", "dn2/L1/pallet-1"]
EVENTS_PER_STATION = 300
# Two services import, migrate and subscribe; a loaded CI box gets headroom.
START_TIMEOUT_S = 60.0
DELIVERY_TIMEOUT_S = 60.0


class Central:
    """One ``central run`` process with its own broker account, client id and API port."""

    def __init__(self, name: str, broker: LocalBroker, database_url: str, folder: Path) -> None:
        credentials = broker.service(name)
        self.api = f"http://127.0.0.1:{free_port()}"
        self.database_url = database_url
        self._headers: dict[str, str] | None = None
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
        }
        self.config.write_text(tomli_w.dumps(settings))
        self.child = Child(
            name,
            linetrace_argv("central", "run", "--config", str(self.config)),
            folder / f"{name}.log",
            env={"LINETRACE_CENTRAL_MQTT__PASSWORD": credentials.password},
        )

    @property
    def headers(self) -> dict[str, str]:
        """A bearer token, made on first use: the services migrate the database first."""
        if self._headers is None:
            self._headers = login_headers(self.database_url)
        return self._headers

    def get(self, path: str) -> Any:
        headers = self.headers if path.startswith("/api/") else {}  # /healthz is open
        return httpx.get(f"{self.api}{path}", headers=headers, timeout=5.0).json()

    def ready(self) -> bool:
        if not self.child.running:
            raise RuntimeError(f"{self.child.name} exited:\n{self.child.tail(40)}")
        try:
            return bool(self.get("/healthz")["status"] == "ok")
        except httpx.TransportError:
            return False


def publish_station(broker: LocalBroker, station: str, errors: list[BaseException]) -> None:
    try:
        credentials = broker.station(station)
        with Publisher(broker.host, broker.port, credentials.username, credentials.password) as pub:
            for seq in range(1, EVENTS_PER_STATION + 1):
                pub.publish(events_topic(station), make_event(seq, station=station).to_payload())
    except BaseException as exc:  # noqa: BLE001 - reported by the test
        errors.append(exc)


def wait_for_acks(broker: LocalBroker, expected: int) -> dict[str, int]:
    """Every station's ``ack`` as a monitor sees it, once all reach ``expected``."""
    probe = broker.service("probe")
    seen: dict[str, int] = {}
    client = make_client(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username=probe.username,
            password=SecretStr(probe.password),
            client_id="probe",
        )
    )
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(subscription(Channel.ACK), qos=1)
    client.on_message = lambda _c, _u, m: seen.__setitem__(
        m.topic, AckWatermark.model_validate_json(m.payload).seq
    )
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        wait_until(
            lambda: len(seen) == len(STATIONS) and set(seen.values()) == {expected},
            DELIVERY_TIMEOUT_S,
        )
    finally:
        client.disconnect()
        client.loop_stop()
    return dict(seen)


def test_two_instances_share_the_load_and_store_every_event_once(
    mqtt_broker: LocalBroker, postgres_database: str, tmp_path: Path
) -> None:
    centrals = [
        Central(name, mqtt_broker, postgres_database, tmp_path)
        for name in ("central-a", "central-b")
    ]
    try:
        for central in centrals:  # both at once: they migrate the empty database together
            central.child.start()
        for central in centrals:
            wait_until(central.ready, START_TIMEOUT_S)
        for station in STATIONS:
            add = ["central", "station", "add", station, "--config", str(centrals[0].config)]
            subprocess.run(linetrace_argv(*add), check=True, capture_output=True)

        errors: list[BaseException] = []
        senders = [
            threading.Thread(target=publish_station, args=(mqtt_broker, s, errors))
            for s in STATIONS
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(DELIVERY_TIMEOUT_S)
        assert errors == []

        total = len(STATIONS) * EVENTS_PER_STATION

        def all_stored() -> bool:
            stored: int = sum(c.get("/healthz")["ingest"]["stored"] for c in centrals)
            return stored >= total

        wait_until(all_stored, DELIVERY_TIMEOUT_S)
        health = [c.get("/healthz")["ingest"] for c in centrals]
        stations = {s["station"]: s for s in centrals[1].get("/api/stations")}
        acks = wait_for_acks(mqtt_broker, EVENTS_PER_STATION)
    finally:
        stop_all([c.child for c in centrals])

    assert all(h["received"] > 0 and h["stored"] > 0 for h in health), health
    assert sum(h["stored"] for h in health) == total
    assert sum(h["dead_lettered"] for h in health) == 0
    engine = open_engine(postgres_database)
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(events.c.site, events.c.line, events.c.station, events.c.seq)
            ).all()
    finally:
        engine.dispose()
    assert len(rows) == total
    for station in STATIONS:
        site, line, name = station.split("/")
        seqs = sorted(r.seq for r in rows if (r.site, r.line, r.station) == (site, line, name))
        assert seqs == list(range(1, EVENTS_PER_STATION + 1)), station
        assert stations[station]["watermark"] == EVENTS_PER_STATION
        assert stations[station]["open_gaps"] == []
        assert acks[topic(StationId.parse(station), Channel.ACK)] == EVENTS_PER_STATION
    logs = "\n".join(c.child.log_path.read_text() for c in centrals)
    assert "Traceback" not in logs, logs[-4000:]
    print(json.dumps(health, indent=1))
