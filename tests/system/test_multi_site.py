"""A site broker bridged to the central broker, two central replicas on PostgreSQL.

The bridge is set up the way an operator would: ``linetrace broker add-bridge`` on the
central broker, ``linetrace broker bridge`` (TLS) on the site broker; the link between
them runs through a TCP proxy the test can cut. Stations (real outboxes and publishers)
publish at the site; the two ``central run`` processes share the events subscription at
the central broker. The stations' own resend timeout is longer than the test, so what
crosses an outage was carried by the brokers' queues, not sent again by a station:

1. steady flow: every event stored once, acks back over the bridge, outboxes empty;
2. the link is cut while the stations publish and a batch is started at central: the
   site broker queues the events, the central broker the batch, and both cross when the
   link returns (the bridge's persistent sessions at both ends);
3. the central broker restarts while the stations publish, the link still down until
   both replicas are back: the site broker's queue again;
4. the site broker restarts while the stations publish: they keep their events in their
   outboxes and send them when it returns; every outbox drains.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from datetime import datetime, timedelta, timezone
from functools import partial
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import BatchAnnouncement, EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import MosquittoNotFoundError, find_mosquitto, init_broker
from linetrace.broker.mosquitto.bridge import bridge_file
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import events, open_engine
from linetrace.edge.config import default_client_id
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.publisher import Publisher
from linetrace.edge.line.passage import Passage
from linetrace.processes import linetrace_argv, stop_all
from tests.broker.mosquitto.test_access import make_certificates
from tests.central.helpers import GTIN, register
from tests.central.trace_helpers import add_product
from tests.conditions import wait_until
from tests.system.tcp_proxy import TcpProxy
from tests.system.test_scale_out import START_TIMEOUT_S, Central

pytestmark = [pytest.mark.system, pytest.mark.slow, pytest.mark.postgres]

SITE = "hcm1"
STATIONS = ["hcm1/L1/pack-1", "hcm1/L1/case-1", "hcm1/L2/pack-1"]
BATCH_LINE = "hcm1/L1"
PER_ROUND = 30  # events per station in each of the four rounds
ROUNDS = 4
ICT = timezone(timedelta(hours=7))
# Longer than the test: an event arrives because a broker queued it, not because the
# station sent it again (a reconnect to the site broker still re-sends, by design).
RESEND_TIMEOUT_S = 600.0
# Reconnects: paho's backoff from 1 s and the bridge's 1-2 s; a loaded box gets headroom.
DELIVERY_TIMEOUT_S = 45.0


class Station:
    """One station's outbox and publisher, at the site broker."""

    def __init__(self, station_id: str, broker: LocalBroker, folder: Path) -> None:
        self.id = StationId.parse(station_id)
        credentials = broker.station(self.id)
        self.outbox = Outbox(folder / f"{default_client_id(self.id)}.db", self.id)
        self.batches: list[bytes] = []
        settings = MqttSettings(
            host=broker.host,
            port=broker.port,
            username=credentials.username,
            password=SecretStr(credentials.password),
            keepalive_s=5,
        )
        self.publisher = Publisher(
            self.outbox,
            settings,
            client_id=default_client_id(self.id),
            tz=ICT,
            resend_timeout_s=RESEND_TIMEOUT_S,
            on_batch=self.batches.append,
        )
        self.made = 0

    def make(self, count: int) -> None:
        """Store ``count`` passages in the outbox, as the line would."""
        start = datetime(2026, 3, 1, 8, 0, tzinfo=ICT)
        for number in range(self.made, self.made + count):
            seen = start + timedelta(seconds=number)
            self.outbox.append(
                Passage(
                    kind=EventKind.READ,
                    first_seen=seen,
                    last_seen=seen,
                    frames=2,
                    symbology="DataMatrix",
                    text=f"{self.id}-{number}",
                )
            )
        self.made += count
        self.publisher.nudge()

    def drained(self) -> bool:
        return self.publisher.wait_drained(DELIVERY_TIMEOUT_S)

    def has_batch(self, batch_id: str) -> bool:
        return batch_id in self.batch_ids()

    def batch_ids(self) -> list[str]:
        return [BatchAnnouncement.model_validate_json(p).batch_id for p in self.batches if p]


@pytest.fixture
def central_broker(
    tmp_path_factory: pytest.TempPathFactory, require: Callable[[bool, str], None]
) -> Iterator[LocalBroker]:
    """The central broker, with a TLS listener for the site's bridge."""
    require(shutil.which("openssl") is not None, "openssl is needed to make test certificates")
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        require(False, str(exc))
    directory = tmp_path_factory.mktemp("central-broker")
    broker = LocalBroker.create(directory)
    init_broker(directory, port=broker.port, tls=make_certificates(directory))
    with ExitStack() as cleanup:
        cleanup.callback(lambda: print(f"--- central broker ---\n{broker.log()}"))
        cleanup.callback(broker.stop)
        broker.start()
        yield broker


@pytest.fixture
def site_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """The site broker, not started: the bridge is written first."""
    broker = LocalBroker.create(tmp_path_factory.mktemp("site-broker"))
    with ExitStack() as cleanup:
        cleanup.callback(lambda: print(f"--- site broker ---\n{broker.log()}"))
        cleanup.callback(broker.stop)
        yield broker


def cli(*args: str) -> str:
    done = subprocess.run(linetrace_argv(*args), capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def tls_port(broker: LocalBroker) -> int:
    """The port of the broker's TLS listener (its second one)."""
    return next(
        int(line.split()[1])
        for line in (broker.directory / "mosquitto.conf").read_text().splitlines()
        if line.startswith("listener ") and int(line.split()[1]) != broker.port
    )


def bridge(central: LocalBroker, site: LocalBroker, remote_port: int, folder: Path) -> None:
    """Bridge ``site`` to ``central`` over TLS with the project's own commands."""
    credentials = folder / "bridge.json"
    credentials.write_text(cli("broker", "add-bridge", str(central.directory), SITE))
    cli(
        "broker", "bridge", str(site.directory), "--site", SITE,
        "--remote", f"127.0.0.1:{remote_port}", "--credentials", str(credentials),
        "--tls-ca", str(central.directory / "ca.pem"), "--restart-timeout", "1", "2",
    )  # fmt: skip
    assert "bridge_cafile" in bridge_file(site.directory, "central").read_text()


class BatchWatch:
    """A client on the central broker that notes every message on the site's batch topics."""

    def __init__(self, broker: LocalBroker) -> None:
        probe = broker.service("probe")
        self.seen: dict[str, bytes] = {}
        self.client = make_client(
            MqttSettings(
                host=broker.host,
                port=broker.port,
                username=probe.username,
                password=SecretStr(probe.password),
            ),
            client_id="probe",
        )
        self.client.on_connect = lambda c, _u, _f, _r, _p: c.subscribe(
            f"linetrace/v1/{SITE}/+/+/batch", qos=1
        )
        self.client.on_message = lambda _c, _u, m: self.seen.__setitem__(m.topic, bytes(m.payload))
        self.client.connect(broker.host, broker.port, keepalive=30)
        self.client.loop_start()

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def announced(self, batch_id: str) -> set[str]:
        """The topics whose last message announces ``batch_id``."""
        return {
            name
            for name, payload in dict(self.seen).items()
            if payload and BatchAnnouncement.model_validate_json(payload).batch_id == batch_id
        }


def subscribed(central: Central) -> bool:
    ingest = central.get("/healthz")["ingest"]
    return bool(ingest["subscribed"])


def taken_by_site(stations: list[Station]) -> Callable[[], bool]:
    """Whether the site broker has acknowledged everything the stations made."""
    return lambda: all(s.publisher.stats.acknowledged == s.made for s in stations)


def test_a_bridged_site_delivers_every_event_once_and_hears_back(
    central_broker: LocalBroker,
    site_broker: LocalBroker,
    postgres_database: str,
    tmp_path: Path,
) -> None:
    link = TcpProxy("127.0.0.1", tls_port(central_broker)).start()
    centrals = [
        Central(name, central_broker, postgres_database, tmp_path)
        for name in ("central-a", "central-b")
    ]
    with ExitStack() as cleanup:
        cleanup.callback(link.close)
        bridge(central_broker, site_broker, link.port, tmp_path)
        site_broker.start()
        stations = [Station(s, site_broker, tmp_path) for s in STATIONS]
        cleanup.callback(stop_all, [c.child for c in centrals])
        for central in centrals:
            central.child.start()
        for central in centrals:
            wait_until(central.ready, START_TIMEOUT_S)
        register(postgres_database, *STATIONS)
        engine = open_engine(postgres_database)
        cleanup.callback(engine.dispose)
        add_product(engine)
        for station in stations:
            cleanup.enter_context(station.outbox)
            station.publisher.start()
            cleanup.callback(station.publisher.stop)
        watch = BatchWatch(central_broker)
        cleanup.callback(watch.close)

        # 1. Steady flow through the bridge; acks come back over it.
        for station in stations:
            station.make(PER_ROUND)
        assert all(s.drained() for s in stations), [s.publisher.stats for s in stations]

        # 2. The link is cut; events queue at the site, a batch started at central there.
        link.cut()
        for station in stations:
            station.make(PER_ROUND)
        wait_until(taken_by_site(stations), DELIVERY_TIMEOUT_S, "site broker took nothing")
        started = httpx.post(
            f"{centrals[1].api}/api/batches",
            json={"line": BATCH_LINE, "gtin": GTIN, "lot": "L2611"},
            headers=centrals[1].headers,
            timeout=5.0,
        )
        assert started.status_code == 201, started.text
        batch_id = str(started.json()["id"])
        on_line = [s for s in stations if str(s.id).startswith(BATCH_LINE + "/")]
        wait_until(
            lambda: len(watch.announced(batch_id)) == len(on_line),
            DELIVERY_TIMEOUT_S,
            "central did not announce the batch while the site was cut off",
        )
        assert all(s.batch_ids() == [] for s in stations)
        link.restore()
        for station in on_line:
            wait_until(partial(station.has_batch, batch_id), DELIVERY_TIMEOUT_S)
        assert all(s.drained() for s in stations), [s.publisher.stats for s in stations]

        # 3. The central broker restarts; the link returns once both replicas are back.
        central_broker.stop()
        for station in stations:
            station.make(PER_ROUND)
        wait_until(taken_by_site(stations), DELIVERY_TIMEOUT_S, "site broker took nothing")
        link.cut()
        central_broker.start()
        for central in centrals:
            wait_until(partial(subscribed, central), DELIVERY_TIMEOUT_S)
        link.restore()
        assert all(s.drained() for s in stations), [s.publisher.stats for s in stations]
        assert [s.publisher.stats.resent for s in stations] == [0] * len(stations)

        # 4. The site broker restarts; the stations keep what they make meanwhile.
        site_broker.stop()
        for station in stations:
            station.make(PER_ROUND)
        site_broker.start()
        assert all(s.drained() for s in stations), [s.publisher.stats for s in stations]
        health = [c.get("/healthz")["ingest"] for c in centrals]
        announced = {str(s.id): s.batch_ids() for s in stations}
        with engine.connect() as connection:
            rows = connection.execute(
                sa.select(events.c.site, events.c.line, events.c.station, events.c.seq)
            ).all()

    total = ROUNDS * PER_ROUND * len(STATIONS)
    assert {name: set(ids) for name, ids in announced.items()} == {
        "hcm1/L1/pack-1": {batch_id},
        "hcm1/L1/case-1": {batch_id},
        "hcm1/L2/pack-1": set(),
    }
    assert all(h["stored"] > 0 for h in health), health  # both replicas took a share
    assert sum(h["stored"] for h in health) == total, health
    assert sum(h["dead_lettered"] for h in health) == 0, health
    assert len(rows) == total
    for station in stations:
        mine = sorted(r.seq for r in rows if StationId(r.site, r.line, r.station) == station.id)
        assert mine == list(range(1, ROUNDS * PER_ROUND + 1)), station.id
        assert station.outbox.depth() == 0
    logs = "\n".join(c.child.log_path.read_text() for c in centrals)
    assert "Traceback" not in logs, logs[-4000:]
