"""The link between an edge agent and its broker fails, then heals: nothing lost or doubled.

Real processes: Mosquitto, ``central run`` (SQLite) on the broker directly, and
``edge run`` playing a synthetic conveyor video, whose MQTT connection goes through a
:class:`~tests.system.tcp_proxy.TcpProxy` the test cuts (connections reset), blackholes
(bytes stop, nothing closes: only the keepalive can tell) or lets fill the outbox to its
capacity. Every wait is on what the edge itself reports on its Prometheus endpoint.

Afterwards central's database and the edge's outbox together must hold every ``seq`` the
edge gave out exactly once, central no event twice, and the backlog built up during the
outage must have reached central oldest first.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import tomli_w
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import events, open_engine
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all
from linetrace.synth.conveyor import ConveyorSpec, write_conveyor
from tests.central.auth_helpers import login_headers
from tests.conditions import wait_until
from tests.system.tcp_proxy import TcpProxy

pytestmark = [pytest.mark.system, pytest.mark.slow]

STATION = "hcm1/line-3/label-1"
# The smallest keepalive the settings allow: a silent link is noticed in about twice it.
KEEPALIVE_S = 5
# Starting Python, OpenCV and the decoders, and migrating a fresh database, on a loaded box.
START_TIMEOUT_S = 60.0
# Noticing a blackholed link takes two keepalives; reconnecting after an outage up to the
# backoff reached meanwhile (1, 2, 4, 8 s ...); a loaded box gets headroom on both.
LINK_TIMEOUT_S = 45.0
# Events the edge must store while its link is down before the test mends it.
BACKLOG = 10


@pytest.fixture(scope="module")
def conveyor(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short clip the edge plays in a loop, in real time: it scans until told to stop."""
    video = tmp_path_factory.mktemp("video") / "conveyor.mp4"
    spec = ConveyorSpec(items=20, fps=30.0, width=640, height=360, items_per_second=5.0, seed=1212)
    write_conveyor(video, spec)
    return video


@dataclass
class Stack:
    """Broker, central and one edge whose broker link runs through ``proxy``."""

    broker: LocalBroker
    proxy: TcpProxy
    central: Child
    edge: Child
    api: str
    metrics_port: int
    database: Path
    outbox: Path

    def figures(self) -> dict[str, float]:
        """The edge's figures as its Prometheus endpoint shows them (counters as ``_total``)."""
        if not self.edge.running:
            raise AssertionError(f"the edge exited:\n{self.edge.tail(40)}")
        try:
            text = httpx.get(f"http://127.0.0.1:{self.metrics_port}/metrics", timeout=5).text
        except httpx.TransportError:
            return {}
        prefix = "linetrace_edge_"
        return {
            sample.name.removeprefix(prefix): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    def figure(self, name: str) -> float:
        return self.figures().get(name, float("nan"))

    def stop_edge(self) -> int | None:
        """SIGTERM and wait: the edge stops scanning and hands central what it can."""
        assert self.edge.process is not None
        self.edge.process.send_signal(signal.SIGTERM)
        return self.edge.process.wait(timeout=START_TIMEOUT_S)


@pytest.fixture
def stack_for(mqtt_broker: LocalBroker, conveyor: Path, tmp_path: Path) -> Iterator[Any]:
    """``stack_for(**outbox)`` starts the stack with those ``[outbox]`` settings."""
    made: list[Stack] = []

    def start(**outbox: object) -> Stack:
        stack = _configure(mqtt_broker, conveyor, tmp_path, outbox)
        made.append(stack)  # stopped and closed at the end even if it never comes up
        _launch(stack)
        return stack

    try:
        yield start
    finally:
        for stack in made:
            stop_all([stack.edge, stack.central])
            stack.proxy.close()


def _configure(broker: LocalBroker, video: Path, folder: Path, outbox: dict[str, object]) -> Stack:
    central_creds, station_creds = broker.service("central"), broker.station(STATION)
    api_port, metrics_port = free_port(), free_port()
    proxy = TcpProxy(broker.host, broker.port).start()
    central_toml = folder / "central.toml"
    central_toml.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(folder / "central"),
                "mqtt": {
                    "host": broker.host,
                    "port": broker.port,
                    "username": central_creds.username,
                },
                "api": {"host": "127.0.0.1", "port": api_port},
            }
        )
    )
    site, line, station = STATION.split("/")
    outbox_path = folder / "edge" / "outbox.sqlite"
    edge_toml = folder / "edge.toml"
    edge_toml.write_text(
        tomli_w.dumps(
            {
                "station": {
                    "site": site,
                    "line": line,
                    "station": station,
                    "role": "labelling",
                    "utc_offset": "+07:00",
                },
                "source": {"spec": str(video), "realtime": True, "loop": True},
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": proxy.port,
                    "username": station_creds.username,
                    "keepalive_s": KEEPALIVE_S,
                },
                "outbox": {"path": str(outbox_path), **outbox},
                "status": {"interval_s": 1.0},
                "metrics": {"port": metrics_port},
            }
        )
    )
    register = ["central", "station", "add", STATION, "--config", str(central_toml)]
    subprocess.run(linetrace_argv(*register), check=True, stdout=subprocess.DEVNULL)
    stack = Stack(
        broker=broker,
        proxy=proxy,
        central=Child(
            "central",
            linetrace_argv("central", "run", "--config", str(central_toml)),
            folder / "central.log",
            env={"LINETRACE_CENTRAL_MQTT__PASSWORD": central_creds.password},
        ),
        edge=Child(
            "edge",
            linetrace_argv("edge", "run", "--config", str(edge_toml)),
            folder / "edge.log",
            env={"LINETRACE_EDGE_MQTT__PASSWORD": station_creds.password},
        ),
        api=f"http://127.0.0.1:{api_port}",
        metrics_port=metrics_port,
        database=folder / "central" / "central.db",
        outbox=outbox_path,
    )
    return stack


def _launch(stack: Stack) -> None:
    stack.central.start()
    wait_until(lambda: _central_ok(stack), START_TIMEOUT_S, "central did not come up")
    stack.edge.start()
    wait_until(
        lambda: stack.figure("connected") == 1 and stack.figure("watermark") >= 3,
        START_TIMEOUT_S,
        "the edge did not deliver its first events",
    )


def _central_ok(stack: Stack) -> bool:
    if not stack.central.running:
        raise AssertionError(f"central exited:\n{stack.central.tail(40)}")
    try:
        return bool(httpx.get(f"{stack.api}/healthz", timeout=5).json()["status"] == "ok")
    except httpx.TransportError:
        return False


@dataclass(frozen=True)
class Ledger:
    """What central stored and what the edge still holds, read from their files."""

    stored: list[tuple[int, str, Any]]  # (seq, event_id, received_at) at central, by seq
    left: set[int]  # seqs still in the edge's outbox
    last_seq: int  # the last seq the edge gave out


def _ledger(stack: Stack) -> Ledger:
    engine = open_engine(f"sqlite:///{stack.database}")
    try:
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(events.c.seq, events.c.event_id, events.c.received_at).order_by(
                    events.c.seq
                )
            ).all()
    finally:
        engine.dispose()
    with sqlite3.connect(stack.outbox) as outbox:
        left = {int(seq) for (seq,) in outbox.execute("SELECT seq FROM events")}
        (last_seq,) = outbox.execute("SELECT last_seq FROM sequence").fetchone()
    return Ledger([(r.seq, str(r.event_id), r.received_at) for r in rows], left, int(last_seq))


def _assert_nothing_lost_or_doubled(ledger: Ledger) -> None:
    seqs = [seq for seq, _, _ in ledger.stored]
    assert len(set(seqs)) == len(seqs), "central stored a seq twice"
    assert len({event_id for _, event_id, _ in ledger.stored}) == len(seqs)
    everything = set(range(1, ledger.last_seq + 1))
    assert set(seqs) | ledger.left == everything, "a seq reached neither central nor stayed"
    assert set(seqs) <= everything, "central stored a seq the edge never gave out"


def _assert_arrived_oldest_first(ledger: Ledger, backlog: range) -> None:
    """The outage's backlog reached central in seq order (its lane drains oldest first)."""
    arrivals = [received for seq, _, received in ledger.stored if seq in backlog]
    assert len(arrivals) == len(backlog)
    assert arrivals == sorted(arrivals), "the backlog reached central out of order"


@pytest.mark.parametrize("fault", ["cut", "blackhole"])
def test_a_broken_link_loses_nothing_and_the_backlog_drains_in_order(
    stack_for: Any, fault: str
) -> None:
    stack: Stack = stack_for()
    getattr(stack.proxy, fault)()
    # The edge notices (at once for a cut, by its keepalive for a blackhole) and keeps
    # scanning into its outbox.
    wait_until(lambda: stack.figure("connected") == 0, LINK_TIMEOUT_S, "outage not noticed")
    wait_until(
        lambda: stack.figure("outbox_depth") >= BACKLOG,
        LINK_TIMEOUT_S,
        "the outbox did not grow during the outage",
    )
    covered = int(stack.figure("watermark"))  # central can confirm nothing more now
    backlog_end = int(stack.figure("stored_total"))
    stack.proxy.restore()
    wait_until(
        lambda: stack.figure("connected") == 1 and stack.figure("watermark") >= backlog_end,
        LINK_TIMEOUT_S,
        "the backlog did not drain after the link came back",
    )
    assert stack.stop_edge() == 0, stack.edge.tail(40)
    health = httpx.get(f"{stack.api}/healthz", timeout=5).json()
    stop_all([stack.central])

    ledger = _ledger(stack)
    _assert_nothing_lost_or_doubled(ledger)
    _assert_arrived_oldest_first(ledger, range(covered + 1, backlog_end + 1))
    assert health["ingest"]["dead_lettered"] == 0
    assert health["ingest"]["stored"] == len(ledger.stored)
    assert stack.proxy.accepted > 1, "the edge never reconnected"
    log = stack.edge.log_path.read_text()
    assert "Traceback" not in log, log[-4000:]
    print(
        json.dumps(
            {
                "fault": fault,
                "last_seq": ledger.last_seq,
                "left": len(ledger.left),
                "duplicates": health["ingest"]["duplicates"],
            }
        )
    )


def _retained_status(broker: LocalBroker) -> StationStatus:
    """The station's retained status message, as the broker hands it to a newcomer."""
    probe = broker.service("probe")
    seen: list[StationStatus] = []
    client = make_client(
        MqttSettings(
            host=broker.host,
            port=broker.port,
            username=probe.username,
            password=SecretStr(probe.password),
            client_id="probe",
        )
    )
    status_topic = topic(StationId.parse(STATION), Channel.STATUS)
    client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(status_topic, qos=1)
    client.on_message = lambda _c, _u, m: seen.append(StationStatus.model_validate_json(m.payload))
    client.connect(broker.host, broker.port, keepalive=30)
    client.loop_start()
    try:
        wait_until(lambda: seen, message="no retained status")
    finally:
        client.disconnect()
        client.loop_stop()
    return seen[0]


# One bearer token per central database, made once it is migrated (central is running).
_TOKENS: dict[Path, dict[str, str]] = {}


def _lost_at_central(stack: Stack) -> int:
    """The events lost that central's open ``events_lost`` alarms of the station count."""
    params = {"kind": "events_lost", "station": STATION}
    headers = _TOKENS.setdefault(stack.database, login_headers(f"sqlite:///{stack.database}"))
    alarms = httpx.get(f"{stack.api}/api/alarms", params=params, headers=headers, timeout=5)
    alarms = alarms.json()
    return sum(int(alarm["details"]["lost"]) for alarm in alarms)


# Small enough to fill in seconds; the alarm level half of it.
CAPACITY = 8


def test_a_full_outbox_refuses_loudly_and_keeps_every_event_it_took(stack_for: Any) -> None:
    stack: Stack = stack_for(capacity=CAPACITY, alarm_at=0.5)
    stack.proxy.cut()
    wait_until(
        lambda: stack.figure("lost_total") >= 3, LINK_TIMEOUT_S, "the outbox never filled up"
    )
    full = stack.figures()
    assert full["outbox_depth"] == CAPACITY
    assert full["outbox_fill"] == 1.0
    assert full["outbox_alarm"] == 1
    assert full["connected"] == 0
    last_stored = int(full["stored_total"])
    stack.proxy.restore()
    wait_until(
        lambda: stack.figure("connected") == 1 and stack.figure("watermark") >= last_stored,
        LINK_TIMEOUT_S,
        "the full outbox did not drain after the link came back",
    )
    wait_until(lambda: stack.figure("outbox_alarm") == 0, message="the alarm stayed raised")
    # Central hears of the loss too: the refused passages took no seq, so no gap shows them.
    wait_until(
        lambda: _lost_at_central(stack) >= full["lost_total"],
        message="central lists no events_lost alarm for the station",
    )
    status = _retained_status(stack.broker)
    lost = stack.figure("lost_total")
    code = stack.stop_edge()
    stop_all([stack.central])

    # Loud: the retained status central reads tells the loss, every refused passage is an
    # error in the log, and the agent exits with a failure.
    assert status.metrics["lost"] >= full["lost_total"]
    log = stack.edge.log_path.read_text()
    refused = [line for line in log.splitlines() if " ERROR " in line and "LOST" in line]
    assert len(refused) >= lost
    assert any(" WARNING " in line and "% full" in line for line in log.splitlines())
    assert code == 1, stack.edge.tail(40)
    summary = next(line for line in log.splitlines() if "agent stopped" in line)
    assert f"{len(refused)} lost to a full outbox" in summary
    # Nothing silently lost: a refused passage never got a seq, and every seq given out
    # reached central exactly once.
    ledger = _ledger(stack)
    _assert_nothing_lost_or_doubled(ledger)
    assert "Traceback" not in log, log[-4000:]
