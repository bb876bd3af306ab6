"""The stations: simulated edges in publisher processes, flow-controlled as an edge is.

Each process encodes its stations' events and connects before the clock starts; then it
publishes flat out or at a set rate, each station keeping at most ``window`` events
beyond central's retained ``ack`` watermark, as an edge's outbox does. Two generators:
pre-encoded packets on asyncio (a few microseconds of CPU per event) or paho-mqtt
clients (what an edge runs, about ten times the CPU), to compare.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import accumulate
from multiprocessing.connection import Connection as Pipe
from typing import Any

import paho.mqtt.client as mqtt
from pydantic import SecretStr

from harness.broker import PAHO_LOG, BenchBroker
from harness.events import event_payload, gtin_of, lot_of
from harness.waiting import PHASE_TIMEOUT_S
from harness.wire import KEEPALIVE_S, MqttConnection, open_connection, publish_packet
from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.edge.delivery.publisher import MAX_INFLIGHT

__all__ = [
    "GENERATORS",
    "PublishPlan",
    "Published",
    "Station",
    "paho_publisher_main",
    "publisher_main",
    "receive",
    "run_publishers",
    "station_packets",
]


@dataclass(frozen=True)
class PublishPlan:
    host: str
    port: int
    stations: list[tuple[str, str]]  # (station id, which is also its user name; password)
    first_seq: int
    count: int  # events per station
    rate: float | None  # events/s over all of this process's stations; None: flat out
    window: int | None  # most events beyond the ack watermark per station; None: no limit


@dataclass(frozen=True)
class Published:
    """What the publisher processes of one run report."""

    sent_at: list[tuple[str, int, float]]  # (station, seq, when written); only at a set rate
    cpu_s: float  # their CPU time from the start signal to the last acknowledgement


def station_packets(station: StationId, first_seq: int, count: int) -> tuple[bytes, list[int]]:
    """A station's PUBLISH packets for a run, back to back, and the offset of each."""
    events_topic = topic(station, Channel.EVENTS)
    packets = [
        publish_packet(
            events_topic,
            event_payload(station, seq, lot_of(seq), gtin_of(seq)),
            seq % 65_535 + 1,  # never 0; far more ids than messages in flight
        )
        for seq in range(first_seq, first_seq + count)
    ]
    return b"".join(packets), list(accumulate(map(len, packets), initial=0))


class Station(MqttConnection):
    """A simulated edge on its own connection and credentials, flow-controlled as the edge is.

    At most ``MAX_INFLIGHT`` (or the broker's Receive Maximum) messages wait for a PUBACK,
    and at most ``window`` events lie beyond central's retained ``ack`` watermark.
    """

    def __init__(
        self, station: StationId, password: str, packets: tuple[bytes, list[int]], plan: PublishPlan
    ) -> None:
        client_id = f"bench-{str(station).replace('/', '-')}-{secrets.token_hex(3)}"
        super().__init__(client_id, str(station), password, topic(station, Channel.ACK))
        self.name = str(station)
        self.first_seq, self.count, self.window = plan.first_seq, plan.count, plan.window
        self.sent = self.inflight = self.pubacks = 0
        self.acked = plan.first_seq - 1
        self.flat_out = False
        self.progress = asyncio.Event()
        self.done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._blob = memoryview(packets[0])
        self._offsets = packets[1]

    def room(self) -> int:
        """How many more events this station may write now."""
        room = min(
            self.count - self.sent,
            min(MAX_INFLIGHT, self.receive_maximum) - self.inflight,
        )
        if self.window is not None:
            room = min(room, self.acked + self.window + 1 - (self.first_seq + self.sent))
        return room

    def send(self, count: int) -> None:
        """Write the next ``count`` pre-encoded packets in one go."""
        self.write(self._blob[self._offsets[self.sent] : self._offsets[self.sent + count]])
        self.sent += count
        self.inflight += count

    def on_puback(self, reason: int) -> None:
        self.inflight -= 1
        self.pubacks += 1
        if reason >= 0x80 and not self.done.done():
            self.done.set_exception(ConnectionError(f"{self.name}: PUBLISH refused ({reason:#x})"))

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.done.done():
            self.done.set_exception(ConnectionError(f"{self.describe()}; connection lost: {exc}"))

    def on_message(self, topic_name: str, payload: bytes) -> None:
        if payload:  # an empty retained message clears the watermark
            self.acked = max(self.acked, AckWatermark.model_validate_json(payload).seq)

    def after_read(self) -> None:
        if self.flat_out and (room := self.room()) > 0:
            self.send(room)
        self.progress.set()
        last = self.first_seq + self.count - 1
        covered = self.window is None or self.acked >= last
        if self.pubacks == self.count and covered and not self.done.done():
            self.done.set_result(None)

    def describe(self) -> str:
        return f"{self.name}: {self.pubacks} of {self.count} taken by the broker, ack {self.acked}"


async def paced(stations: Sequence[Station], rate: float) -> list[tuple[str, int, float]]:
    """Publish one event per station every ``len(stations) / rate`` seconds; note each write.

    Each time is taken right before the write, which reaches the socket at once: at a set
    rate nothing is queued in front of it.
    """
    interval = len(stations) / rate
    sent_at = []
    began = time.perf_counter()
    for index in range(stations[0].count):
        delay = began + index * interval - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        for station in stations:
            while station.room() < 1:
                station.progress.clear()
                await station.progress.wait()
            sent_at.append((station.name, station.first_seq + station.sent, time.time()))
            station.send(1)
    return sent_at


async def _publish(plan: PublishPlan, link: Pipe) -> Published:
    stations = [
        await open_connection(
            partial(
                Station,
                StationId.parse(name),
                password,
                station_packets(StationId.parse(name), plan.first_seq, plan.count),
                plan,
            ),
            plan.host,
            plan.port,
        )
        for name, password in plan.stations
    ]
    link.send("ready")
    start_at: float = link.recv()  # every connection is idle until then
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    sent_at: list[tuple[str, int, float]] = []
    for station in stations:
        station.flat_out = not plan.rate
        station.after_read()  # flat out: the first writes; either way, done if nothing to do
    if plan.rate:
        sent_at = await paced(stations, plan.rate)
    try:
        await asyncio.wait_for(asyncio.gather(*(s.done for s in stations)), PHASE_TIMEOUT_S)
    except TimeoutError:
        raise TimeoutError("; ".join(s.describe() for s in stations if not s.done.done())) from None
    cpu_s = time.process_time() - cpu_before
    for station in stations:
        station.close()
    return Published(sent_at, cpu_s)


def publisher_main(plan: PublishPlan, link: Pipe) -> None:
    """One publisher process: encode every packet, connect, wait for the start, publish."""
    link.send(asyncio.run(_publish(plan, link)))
    link.close()


def paho_publisher_main(plan: PublishPlan, link: Pipe) -> None:
    """The same stations as paho-mqtt clients (what an edge runs), to compare generators."""
    stations = [StationId.parse(name) for name, _ in plan.stations]
    payloads = {
        station: [
            event_payload(station, seq, lot_of(seq), gtin_of(seq))
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
    for (name, password), station in zip(plan.stations, stations, strict=True):
        settings = MqttSettings(
            host=plan.host,
            port=plan.port,
            username=name,
            password=SecretStr(password),
            client_id=f"bench-{name.replace('/', '-')}-{secrets.token_hex(3)}",
        )
        client = make_client(settings, log=PAHO_LOG)
        client.max_inflight_messages_set(MAX_INFLIGHT)
        client.max_queued_messages_set(0)
        client.on_message = on_ack
        client.connect(plan.host, plan.port, keepalive=KEEPALIVE_S)
        client.subscribe(topic(station, Channel.ACK), qos=1)
        client.loop_start()
        clients[station] = client
    link.send("ready")
    start_at: float = link.recv()
    time.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    sent_at: list[tuple[str, int, float]] = []
    infos = []
    interval = len(stations) / plan.rate if plan.rate else 0.0
    for index in range(plan.count):
        seq = plan.first_seq + index
        if interval:
            due = start_at + index * interval
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
            if interval:
                sent_at.append((str(station), seq, stamp))
    for info in infos[-len(stations) * 10 :]:
        info.wait_for_publish(PHASE_TIMEOUT_S)
    last_seq = plan.first_seq + plan.count - 1
    if plan.window is not None:
        with progress:
            progress.wait_for(lambda: all(a >= last_seq for a in acked.values()), PHASE_TIMEOUT_S)
    cpu_s = time.process_time() - cpu_before
    for client in clients.values():
        client.disconnect()
        client.loop_stop()
    link.send(Published(sent_at, cpu_s))
    link.close()


# What each --generator runs, and how the output names it.
GENERATORS: dict[str, tuple[Callable[[PublishPlan, Pipe], None], str]] = {
    "raw": (publisher_main, "pre-encoded MQTT v5 PUBLISH packets written by asyncio"),
    "paho": (paho_publisher_main, "paho-mqtt clients, as an edge runs them"),
}


def receive(link: Pipe, timeout: float, what: str) -> Any:
    """The next message from a child process, or an error naming what did not come."""
    try:
        if link.poll(timeout):
            return link.recv()
    except EOFError:
        pass  # the child ended without answering; its traceback is on stderr
    raise TimeoutError(what)


def run_publishers(
    broker: BenchBroker,
    *,
    first_seq: int,
    count: int,
    rate: float | None,
    window: int | None,
    args: argparse.Namespace,
    on_start: Callable[[], None] | None = None,
) -> tuple[float, Published]:
    """Run the stations' events through the publisher processes; return when they began.

    Every process encodes its events and connects first; the clock starts (and
    ``on_start`` is called) when all are ready.
    """
    target, _ = GENERATORS[args.generator]
    groups = [broker.stations[i :: args.publishers] for i in range(args.publishers)]
    children = []
    for group in (g for g in groups if g):
        link, child_link = mp.Pipe()
        share = rate * len(group) / len(broker.stations) if rate else None
        plan = PublishPlan(
            broker.host,
            broker.port,
            [(c.username, c.password) for c in group],
            first_seq,
            count,
            share,
            window,
        )
        process = mp.Process(target=target, args=(plan, child_link), daemon=True)
        process.start()
        child_link.close()
        children.append((process, link))
    for _, link in children:
        receive(link, PHASE_TIMEOUT_S, "a publisher process did not connect")
    if on_start is not None:
        on_start()
    start_at = time.time() + 0.05
    for _, link in children:
        link.send(start_at)
    reports: list[Published] = [
        receive(link, 2 * PHASE_TIMEOUT_S, "a publisher process did not finish")
        for _, link in children
    ]
    for process, _ in children:
        process.join(PHASE_TIMEOUT_S)
    sent_at = [entry for report in reports for entry in report.sent_at]
    return start_at, Published(sent_at, sum(report.cpu_s for report in reports))
