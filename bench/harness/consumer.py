"""The baseline: the same stations into a no-op consumer, the raw broker rate.

Every ingest figure is compared with this rate, measured in the same run on the same
machine: what the broker and the load generator allow at most.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection as Pipe

from harness.broker import BenchBroker, clear_acks
from harness.meters import Meter, Phase
from harness.publishers import receive, run_publishers
from harness.waiting import PHASE_TIMEOUT_S
from harness.wire import MqttConnection, open_connection, publish_packet
from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import SHARED_GROUP, Channel, subscription
from linetrace.broker.mosquitto import Credentials

__all__ = [
    "ACK_INTERVAL_S",
    "NOOP_CONSUMER",
    "Consumed",
    "NoopConsumer",
    "consumer_main",
    "raw_broker_phase",
]

# How often the no-op consumer publishes the acks that move the stations' windows.
ACK_INTERVAL_S = 0.005
NOOP_CONSUMER = (
    "a raw MQTT v5 client in its own process: central's shared subscription at QoS 1, "
    f"a PUBACK per event, a retained ack per station every {ACK_INTERVAL_S * 1000:.0f} ms"
)


@dataclass(frozen=True)
class Consumed:
    """What the no-op consumer process reports."""

    count: int
    finished_at: float | None  # time.time() when the last expected event arrived
    cpu_s: float


class NoopConsumer(MqttConnection):
    """The baseline consumer: central's shared subscription and acks, without a database.

    It stores nothing, but acknowledges like central (a retained ``ack`` per station every
    few milliseconds), so the stations' windows flow exactly as they do with central.
    """

    def __init__(self, username: str, password: str, total: int) -> None:
        events = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)
        super().__init__("bench-noop", username, password, events)
        self.count = 0
        self.finished_at: float | None = None
        self._total = total
        self._highest: dict[str, int] = {}
        self._published: dict[str, int] = {}
        self._unacked = 0
        self._packet_id = 0

    def on_message(self, topic_name: str, payload: bytes) -> None:
        self.count += 1
        start = payload.find(b'"seq":') + 6
        seq = int(payload[start : payload.find(b",", start)])
        if seq > self._highest.get(topic_name, 0):
            self._highest[topic_name] = seq

    def after_read(self) -> None:
        if self.finished_at is None and self.count >= self._total:
            self.finished_at = time.time()

    def on_puback(self, reason: int) -> None:
        if reason >= 0x80:
            raise ConnectionError(f"the broker refused an ack ({reason:#x})")
        self._unacked -= 1

    def publish_acks(self) -> None:
        """A retained ``ack`` for every station whose highest ``seq`` moved."""
        for events_topic, seq in self._highest.items():
            if self._published.get(events_topic) != seq:
                self._packet_id = self._packet_id % 65_535 + 1
                ack = AckWatermark(seq=seq, at=datetime.now(UTC)).to_payload()
                ack_topic = events_topic.rsplit("/", 1)[0] + "/" + Channel.ACK
                self.write(publish_packet(ack_topic, ack, self._packet_id, retain=True))
                self._unacked += 1
                self._published[events_topic] = seq

    @property
    def settled(self) -> bool:
        """Every expected event arrived, and the broker took the acks that cover them."""
        return (
            self.finished_at is not None and not self._unacked and self._published == self._highest
        )


async def _consume(host: str, port: int, login: Credentials, total: int, link: Pipe) -> Consumed:
    factory = partial(NoopConsumer, login.username, login.password, total)
    consumer = await open_connection(factory, host, port)
    link.send("ready")
    cpu_before = time.process_time()
    seen, idle_since = 0, time.monotonic()
    while not consumer.settled and time.monotonic() - idle_since < PHASE_TIMEOUT_S:
        await asyncio.sleep(ACK_INTERVAL_S)
        consumer.publish_acks()
        if consumer.count != seen:
            seen, idle_since = consumer.count, time.monotonic()
    cpu_s = time.process_time() - cpu_before
    consumer.close()
    return Consumed(consumer.count, consumer.finished_at, cpu_s)


def consumer_main(host: str, port: int, login: Credentials, total: int, link: Pipe) -> None:
    """The no-op consumer's process, so that its CPU is its own and measured apart."""
    link.send(asyncio.run(_consume(host, port, login, total, link)))
    link.close()


def raw_broker_phase(broker: BenchBroker, per_station: int, args: argparse.Namespace) -> Phase:
    """The same stations into the no-op consumer: what broker and generator allow at most."""
    clear_acks(broker)
    total = per_station * len(broker.stations)
    link, child_link = mp.Pipe()
    process = mp.Process(
        target=consumer_main,
        args=(broker.host, broker.port, broker.central, total, child_link),
        daemon=True,
    )
    process.start()
    child_link.close()
    receive(link, 30.0, "the no-op consumer did not subscribe")
    meter = Meter(broker)
    start_at, published = run_publishers(
        broker,
        first_seq=1,
        count=per_station,
        rate=None,
        window=args.window,
        args=args,
        on_start=meter.start,
    )
    consumed: Consumed = receive(link, 2 * PHASE_TIMEOUT_S, "the no-op consumer did not finish")
    process.join(10)
    if consumed.finished_at is None:
        raise TimeoutError(f"raw: {consumed.count} of {total} events arrived")
    phase = meter.phase(total, consumed.finished_at - start_at, published.cpu_s)
    return replace(phase, central_s=consumed.cpu_s)
