"""Live passages while an outage's backlog drains: how long does a new event wait?

A real Mosquitto and a stand-in for central that confirms every event with the retained
``ack`` watermark, as central does. First the baseline: passages stored one every 50 ms
(a fast line, 20 items/s) on an idle link. Then the broker goes away, ``--backlog``
events pile up in the outbox, the broker comes back, and while the backlog drains new
passages are stored at the same pace. Printed: the live events' latency (stored to
received by central) p50/p99 during the drain next to the idle baseline, the drain time
(what a new passage would wait if everything went out in ``seq`` order), and the ratios.

    .venv/bin/python bench/edge_delivery.py                  # 5,000 backlog events
    .venv/bin/python bench/edge_delivery.py --backlog 20000
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from harness.waiting import wait_for
from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import AckWatermark, EventKind, parse_event
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.publisher import Publisher
from linetrace.edge.delivery.status import percentile
from linetrace.edge.line.passage import Passage

STATION = StationId("bench", "L1", "pack-1")
# One passage every 50 ms: 20 items/s, the fastest lines a camera station serves.
LIVE_INTERVAL_S = 0.05
BASELINE_EVENTS = 60
# Generous bounds for a loaded machine; a LAN run takes a fraction of them.
CONNECT_TIMEOUT_S = 60.0
DRAIN_TIMEOUT_S = 300.0


class Central:
    """Receives the station's events, notes when each seq first arrived, confirms them."""

    def __init__(self, host: str, port: int, credentials: Credentials) -> None:
        self.arrived: dict[int, float] = {}
        self._watermark = 0
        self._lock = threading.Lock()
        settings = MqttSettings(
            host=host,
            port=port,
            username=credentials.username,
            password=SecretStr(credentials.password),
            client_id="bench-central",
        )
        self._client = make_client(settings)
        # Back within a second of the broker's return, to see the backlog's first events.
        self._client.reconnect_delay_set(1, 1)
        self._client.on_connect = self._on_connect
        self._client.on_message = self._on_message
        self._client.connect_async(host, port)
        self._client.loop_start()

    def close(self) -> None:
        self._client.disconnect()
        self._client.loop_stop()

    def _on_connect(self, client: mqtt.Client, *_args: Any) -> None:
        client.subscribe(topic(STATION, Channel.EVENTS), qos=1)

    def _on_message(self, client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        seq = parse_event(bytes(message.payload)).seq
        with self._lock:
            self.arrived.setdefault(seq, time.monotonic())
            while self._watermark + 1 in self.arrived:
                self._watermark += 1
            watermark = self._watermark
        payload = AckWatermark(seq=watermark, at=datetime.now(UTC)).to_payload()
        client.publish(topic(STATION, Channel.ACK), payload, qos=1, retain=True)

    def wait_for(self, seqs: set[int], timeout: float) -> None:
        wait_for(
            lambda: seqs <= self.arrived.keys(),
            timeout,
            lambda: f"{len(seqs - self.arrived.keys())} events never reached central",
            poll_s=0.01,
        )


def bench_broker(directory: Path) -> tuple[LocalBroker, Credentials, Credentials]:
    """Mosquitto in a directory of its own, with the station's and central's accounts."""
    broker = LocalBroker.create(directory)
    return broker, broker.station(STATION), broker.service("central")


def passage(number: int) -> Passage:
    now = datetime.now(UTC)
    return Passage(
        kind=EventKind.READ,
        first_seen=now,
        last_seen=now,
        frames=12,
        symbology="DataMatrix",
        symbology_id="]d2",
        text=f"010893850000001821{number:08d}",
        gs1={"01": "08938500000018", "21": f"{number:08d}"},
    )


def store_live(
    outbox: Outbox, publisher: Publisher, until: threading.Event, limit: int | None = None
) -> dict[int, float]:
    """Store a passage every LIVE_INTERVAL_S until ``until`` is set (or ``limit`` are)."""
    stored: dict[int, float] = {}
    number = 0
    next_at = time.monotonic()
    while not until.is_set() and (limit is None or len(stored) < limit):
        event = outbox.append(passage(number))
        stored[event.seq] = time.monotonic()
        publisher.nudge()
        number += 1
        next_at += LIVE_INTERVAL_S
        time.sleep(max(0.0, next_at - time.monotonic()))
    return stored


def latencies_ms(stored: dict[int, float], arrived: dict[int, float]) -> list[float]:
    return [1000.0 * (arrived[seq] - at) for seq, at in stored.items()]


@contextmanager
def running(publisher: Publisher) -> Iterator[Publisher]:
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()


def run(backlog: int, directory: Path) -> None:
    broker, station, central_login = bench_broker(directory / "broker")
    broker.start(CONNECT_TIMEOUT_S)
    central = Central(broker.host, broker.port, central_login)
    config = MqttSettings(
        host=broker.host,
        port=broker.port,
        username=station.username,
        password=SecretStr(station.password),
    )
    try:
        with (
            Outbox(directory / "outbox.db", STATION) as outbox,
            running(Publisher(outbox, config, client_id="bench-edge")) as publisher,
        ):
            if not publisher.wait_connected(CONNECT_TIMEOUT_S):
                raise TimeoutError("the publisher did not connect")
            idle = store_live(outbox, publisher, threading.Event(), BASELINE_EVENTS)
            central.wait_for(set(idle), DRAIN_TIMEOUT_S)

            broker.stop()
            started = time.monotonic()
            first_backlog = outbox.last_seq + 1
            for number in range(backlog):
                outbox.append(passage(number))
            stored_s = time.monotonic() - started
            backlog_seqs = set(range(first_backlog, outbox.last_seq + 1))
            broker.start(CONNECT_TIMEOUT_S)
            if not publisher.wait_connected(CONNECT_TIMEOUT_S):
                raise TimeoutError("the publisher did not reconnect")
            reconnected = time.monotonic()
            drained = threading.Event()

            def watch() -> None:
                central.wait_for(backlog_seqs, DRAIN_TIMEOUT_S)
                drained.set()

            watcher = threading.Thread(target=watch)
            watcher.start()
            live = store_live(outbox, publisher, drained)
            watcher.join()
            central.wait_for(set(live), DRAIN_TIMEOUT_S)
            drain_s = max(central.arrived[seq] for seq in backlog_seqs) - reconnected
            covered = publisher.wait_drained(DRAIN_TIMEOUT_S)
    finally:
        central.close()
        broker.stop()
    report(
        backlog,
        stored_s,
        drain_s,
        latencies_ms(idle, central.arrived),
        latencies_ms(live, central.arrived),
        covered,
    )


def report(
    backlog: int,
    stored_s: float,
    drain_s: float,
    idle: list[float],
    live: list[float],
    covered: bool,
) -> None:
    idle_p50, idle_p99 = percentile(idle, 0.5) or 0.0, percentile(idle, 0.99) or 0.0
    live_p50, live_p99 = percentile(live, 0.5) or 0.0, percentile(live, 0.99) or 0.0
    print(f"backlog: {backlog} events stored in {stored_s:.1f} s with the broker away")
    print(f"backlog drained in {1000 * drain_s:.0f} ms after the reconnect")
    print(
        f"live latency, idle link ({len(idle)} events): p50 {idle_p50:.1f} ms, p99 {idle_p99:.1f} ms"
    )
    print(
        f"live latency, during the drain ({len(live)} events): p50 {live_p50:.1f} ms, p99 {live_p99:.1f} ms"
    )
    print(f"ratio live p99 during drain / idle p99: {live_p99 / max(idle_p99, 1e-9):.2f}")
    print(
        f"ratio drain time / live p99 during drain (what seq order would cost): {1000 * drain_s / max(live_p99, 1e-9):.1f}"
    )
    print(f"outbox empty after central's watermark: {covered}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--backlog", type=int, default=5000, help="events stored during the outage")
    args = parser.parse_args(argv)
    # The outage is on purpose: its reconnect warnings would only clutter the figures.
    logging.basicConfig(level=logging.CRITICAL)
    with tempfile.TemporaryDirectory(prefix="linetrace-bench-") as directory:
        run(args.backlog, Path(directory))
    return 0


if __name__ == "__main__":
    sys.exit(main())
