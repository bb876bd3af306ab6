"""Central ingest benchmark: events/s into SQLite and PostgreSQL, latency, trace queries.

Run: ``python bench/central_ingest.py [--events N] [--stations K]
[--database sqlite|postgresql|both]``. It starts a real Mosquitto with the project's
generated configuration on a free port, central's :class:`Ingest` in this process (with
its receiver process), and the stations in a publisher process (one MQTT connection and account per station, QoS 1).
It prints:

- the raw broker rate: the same stations into a no-op shared subscriber, measured in
  the same run, as the baseline every ingest figure is compared with;
- sustained events/s into each database: each station keeps at most ``--window`` events
  beyond central's ``ack`` watermark, as an edge's outbox does, so the figure is what
  central commits and acknowledges, end to end;
- p50/p99 latency from publish to commit at a steady ``--rate`` events/s;
- the drain rate: ``--preload`` events queued in the broker while central is stopped,
  then taken in by a restarted central with no publisher running, timed from its
  subscription. The sustained figure
  shares the cores with the publishers; this one is central's own capacity;
- for each of these phases, the CPU time per event of central (this process and its
  receiver process, summed and then split), of the broker (from /proc, so Linux only)
  and of the load generator, and the cores each kept busy: where the machine's cores went;
- the time of a lot trace (if the traces module is installed) and of a per-code lookup
  over ``--trace-rows`` stored events, bulk-loaded directly (not through MQTT).

The load generator must not take the cores central is measured on. By default the
stations write pre-encoded MQTT v5 PUBLISH packets from one asyncio process, a few
microseconds of CPU per event; ``--generator paho`` runs them as paho-mqtt clients
instead (what an edge runs, about ten times the CPU) to compare.

PostgreSQL: a throwaway database is created on the server named by
``LINETRACE_BENCH_DATABASE_URL`` (else ``LINETRACE_TEST_DATABASE_URL``, else
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.

Targets (2 cores): >= 10,000 events/s into SQLite, >= 5,000 into PostgreSQL, p99 <= 200
ms at 1,000 events/s. Publishers, broker and central share the machine's cores, as
they would on a small all-in-one site server, so the ratio to the raw broker rate says
more than the absolute figure on a busy machine.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta, timezone
from functools import partial
from itertools import accumulate
from multiprocessing.connection import Connection as Pipe
from pathlib import Path
from typing import Any, TypeVar, cast
from uuid import UUID

import paho.mqtt.client as mqtt
import psycopg
import sqlalchemy as sa
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr
from sqlalchemy.engine import Engine, make_url

from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import SHARED_GROUP, Channel, StationId, subscription, topic
from linetrace.broker.mosquitto import (
    MAX_QUEUED_MESSAGES,
    Credentials,
    add_service,
    add_station,
    broker_command,
    init_broker,
)
from linetrace.central.batch import BatchResult, Inbound
from linetrace.central.config import CentralSettings, DatabaseSettings, IngestSettings
from linetrace.central.config import MqttSettings as CentralMqtt
from linetrace.central.ingest import Ingest
from linetrace.central.stations import register_station
from linetrace.central.store import EventQuery, events, find_events, open_engine
from linetrace.central.store import upgrade as migrate
from linetrace.edge.publish import MAX_INFLIGHT

HCM = timezone(timedelta(hours=7))
GTINS = ["08938500000010", "08938500000027", "08938500000034", "08938500000041"]
# Events a station may have published beyond central's ack watermark, as an edge's outbox
# would: 1,000 per station keeps the broker's per-client queue (10,000) from overflowing
# with up to 8 stations while leaving central ample work queued.
DEFAULT_WINDOW = 1000
# Events queued in the broker for a stopped central before the drain run: within the
# broker's per-client queue (MAX_QUEUED_MESSAGES, 10,000), so none is dropped.
DEFAULT_PRELOAD = 9_600
# Seconds to wait for the last events of a phase before reporting what arrived.
PHASE_TIMEOUT_S = 120.0
# Lots in the trace data set: a lot of a thousand items is a realistic production batch.
ITEMS_PER_LOT = 1000
# Queries timed per lookup kind; the median is printed.
QUERY_REPEATS = 15
# How often the no-op consumer publishes the acks that move the stations' windows.
ACK_INTERVAL_S = 0.005
NOOP_CONSUMER = (
    "a raw MQTT v5 client in its own process: central's shared subscription at QoS 1, "
    f"a PUBACK per event, a retained ack per station every {ACK_INTERVAL_S * 1000:.0f} ms"
)


# --- events ----------------------------------------------------------------------------------


def uuid7(millis: int) -> str:
    rand_a, rand_b = secrets.randbits(12), secrets.randbits(62)
    value = (millis << 80) | (0x7 << 76) | (rand_a << 64) | (0b10 << 62) | rand_b
    return str(UUID(int=value))


def event_payload(station: StationId, seq: int, lot: str, gtin: str) -> bytes:
    """A read event as an edge sends it (compact JSON, valid GS1 keys)."""
    observed = datetime(2025, 3, 1, 8, 0, tzinfo=HCM) + timedelta(milliseconds=seq * 50)
    serial = f"{seq:08d}"
    document = {
        "schema_version": "1.1",
        "event_id": uuid7(int(observed.timestamp() * 1000)),
        "site": station.site,
        "line": station.line,
        "station": station.station,
        "seq": seq,
        "kind": "read",
        "observed_at": observed.isoformat(),
        "symbology": "DataMatrix",
        "symbology_id": "]d2",
        "text": f"01{gtin}10{lot}\x1d21{serial}",
        "gs1": {"01": gtin, "10": lot, "21": serial},
        "checks": {"check_digit": {"passed": True}},
        "frames": 3,
    }
    return json.dumps(document, separators=(",", ":")).encode()


# --- MQTT v5 on the wire: the load generator's client ----------------------------------------
# paho spends tens of microseconds of Python per message; on a small server the publishers
# would then take the cores central is meant to be measured on. The simulated stations and
# the no-op consumer speak the few MQTT v5 packets they need directly: every PUBLISH of a
# run is encoded before the clock starts, so sending is a socket write and receiving a
# PUBACK is a counter.

CONNECT, CONNACK, PUBLISH, PUBACK, SUBSCRIBE, SUBACK = 1, 2, 3, 4, 8, 9
DISCONNECT_PACKET = b"\xe0\x00"  # DISCONNECT, normal disconnection
KEEPALIVE_S = 60
# The receive maximum MQTT v5 assumes when the CONNACK names none.
DEFAULT_RECEIVE_MAXIMUM = 65_535


def varint(value: int) -> bytes:
    """An MQTT variable byte integer."""
    out = bytearray()
    while True:
        value, digit = value >> 7, value & 0x7F
        out.append(digit | 0x80 if value else digit)
        if not value:
            return bytes(out)


def read_varint(buffer: bytes | bytearray, offset: int) -> tuple[int, int] | None:
    """The variable byte integer at ``offset`` and the offset after it; None if incomplete."""
    value, shift = 0, 0
    while offset < len(buffer):
        byte = buffer[offset]
        offset += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, offset
        shift += 7
    return None


def utf8(text: str) -> bytes:
    data = text.encode()
    return len(data).to_bytes(2, "big") + data


def packet(kind: int, flags: int, body: bytes) -> bytes:
    return bytes([kind << 4 | flags]) + varint(len(body)) + body


def connect_packet(client_id: str, username: str, password: str) -> bytes:
    """CONNECT with clean start and no session expiry: nothing outlives the run."""
    flags = 0x80 | 0x40 | 0x02  # user name, password, clean start
    header = utf8("MQTT") + bytes([5, flags]) + KEEPALIVE_S.to_bytes(2, "big") + b"\x00"
    return packet(CONNECT, 0, header + utf8(client_id) + utf8(username) + utf8(password))


def subscribe_packet(packet_id: int, topic_filter: str) -> bytes:
    """SUBSCRIBE to one filter at QoS 1."""
    body = packet_id.to_bytes(2, "big") + b"\x00" + utf8(topic_filter) + b"\x01"
    return packet(SUBSCRIBE, 0b0010, body)


def publish_packet(
    topic_name: str, payload: bytes, packet_id: int, *, retain: bool = False
) -> bytes:
    """PUBLISH at QoS 1, without properties."""
    body = utf8(topic_name) + packet_id.to_bytes(2, "big") + b"\x00" + payload
    return packet(PUBLISH, 0b0010 | retain, body)


def puback_packet(packet_id: int) -> bytes:
    """PUBACK, success: v5 allows leaving out the reason code and properties."""
    return bytes([PUBACK << 4, 2]) + packet_id.to_bytes(2, "big")


def parse_publish(flags: int, body: bytes) -> tuple[str, int, bytes]:
    """Topic, packet id (0 at QoS 0) and payload of an incoming PUBLISH."""
    end = 2 + int.from_bytes(body[:2], "big")
    topic_name = body[2:end].decode()
    packet_id = 0
    if flags & 0b0110:
        packet_id = int.from_bytes(body[end : end + 2], "big")
        end += 2
    properties = read_varint(body, end)
    if properties is None:
        raise ConnectionError("malformed PUBLISH")
    length, start = properties
    return topic_name, packet_id, body[start + length :]


def receive_maximum(connack: bytes) -> int:
    """The broker's Receive Maximum from a CONNACK body: QoS 1 messages it takes unacked."""
    properties = Properties(PacketTypes.CONNACK)  # type: ignore[no-untyped-call]
    properties.unpack(connack[2:])  # type: ignore[no-untyped-call]
    return int(getattr(properties, "ReceiveMaximum", DEFAULT_RECEIVE_MAXIMUM))


class MqttConnection(asyncio.Protocol):
    """One MQTT v5 connection that subscribes to one filter; subclasses handle the traffic.

    ``ready`` resolves once the subscription is granted. Incoming QoS 1 messages are
    acknowledged in one write per read, after the subclass has seen them.
    """

    def __init__(self, client_id: str, username: str, password: str, topic_filter: str) -> None:
        self.transport: asyncio.Transport | None = None
        self.receive_maximum = DEFAULT_RECEIVE_MAXIMUM
        self.ready: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._hello = connect_packet(client_id, username, password)
        self._filter = topic_filter
        self._buffer = bytearray()
        self._replies = bytearray()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # a TCP connection's
        self.transport.write(self._hello)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"connection lost: {exc}"))

    def data_received(self, data: bytes) -> None:
        buffer = self._buffer
        buffer += data
        offset, size = 0, len(buffer)
        while offset + 2 <= size:
            header = read_varint(buffer, offset + 1)
            if header is None or header[0] + header[1] > size:
                break
            length, start = header
            first = buffer[offset]
            offset = start + length
            if first >> 4 == PUBACK:  # success leaves the reason code out
                self.on_puback(buffer[start + 2] if length > 2 else 0)
            else:
                self._handle(first, bytes(buffer[start:offset]))
        del buffer[:offset]
        if self._replies:
            self.write(bytes(self._replies))
            self._replies.clear()
        self.after_read()

    def _handle(self, first: int, body: bytes) -> None:
        kind = first >> 4
        if kind == PUBLISH:
            topic_name, packet_id, payload = parse_publish(first & 0x0F, body)
            if packet_id:
                self._replies += puback_packet(packet_id)
            self.on_message(topic_name, payload)
        elif kind == CONNACK:
            if body[1] != 0:
                self.ready.set_exception(ConnectionError(f"CONNECT refused: reason {body[1]}"))
                return
            self.receive_maximum = receive_maximum(body)
            self.write(subscribe_packet(1, self._filter))
        elif kind == SUBACK and not self.ready.done():
            if body[-1] >= 0x80:
                self.ready.set_exception(ConnectionError(f"{self._filter}: refused ({body[-1]})"))
            else:
                self.ready.set_result(None)

    def write(self, data: bytes | memoryview) -> None:
        assert self.transport is not None
        self.transport.write(data)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(DISCONNECT_PACKET)
            self.transport.close()

    def on_puback(self, reason: int) -> None:
        """The broker answered one of this connection's QoS 1 messages (0: success)."""

    def on_message(self, topic_name: str, payload: bytes) -> None:
        """An application message on the subscribed filter."""

    def after_read(self) -> None:
        """Called once per read, after its packets: the place to send more."""


Conn = TypeVar("Conn", bound=MqttConnection)


async def open_connection(factory: Callable[[], Conn], host: str, port: int) -> Conn:
    _, connection = await asyncio.get_running_loop().create_connection(factory, host, port)
    await asyncio.wait_for(connection.ready, 10.0)
    return connection


# --- the stations: publisher processes -------------------------------------------------------


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
            event_payload(station, seq, f"L{seq // ITEMS_PER_LOT:04d}", GTINS[seq % len(GTINS)]),
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
            event_payload(station, seq, f"L{seq // ITEMS_PER_LOT:04d}", GTINS[seq % len(GTINS)])
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
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2,
            client_id=f"bench-{name.replace('/', '-')}-{secrets.token_hex(3)}",
            protocol=MQTTProtocolVersion.MQTTv5,
        )
        client.username_pw_set(name, password)
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
    broker: Broker,
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


# --- the broker ------------------------------------------------------------------------------


@dataclass
class Broker:
    host: str
    port: int
    stations: list[Credentials]
    central: Credentials
    process: subprocess.Popen[bytes]


@contextmanager
def running_broker(folder: Path, station_count: int) -> Iterator[Broker]:
    with socket_port() as port:
        pass
    directory = folder / "broker"
    init_broker(directory, port=port, bind="127.0.0.1")
    stations = [
        add_station(directory, StationId("bench", f"L{i // 4 + 1}", f"st-{i + 1}"))
        for i in range(station_count)
    ]
    central = add_service(directory, "central")
    log = (folder / "mosquitto.log").open("wb")
    process = subprocess.Popen(broker_command(directory), stdout=log, stderr=subprocess.STDOUT)
    try:
        wait_for(lambda: _accepts(port), 10.0, "mosquitto did not start")
        yield Broker("127.0.0.1", port, stations, central, process)
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@contextmanager
def socket_port() -> Iterator[int]:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield int(sock.getsockname()[1])


def _accepts(port: int) -> bool:
    import socket

    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.2):
            return True
    except OSError:
        return False


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError(what)
        time.sleep(0.005)


# --- where the cores go ----------------------------------------------------------------------


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc/PID/stat."""
    # Fields 14 and 15 (utime, stime); the command name before them may contain spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Phase:
    """One timed phase: how many events, how long, and the CPU each party spent on them."""

    events: int
    seconds: float
    central_s: float  # central's processes, both (the no-op consumer's in the raw phase)
    broker_s: float
    generator_s: float | None  # None: no publisher ran while this phase was timed
    receiver_s: float | None = None  # of central_s, the receiver process's part

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def cpu(self, consumer: str = "central") -> str:
        """Each party's CPU per event and the cores it kept busy."""
        parties = [(consumer, self.central_s), ("broker", self.broker_s)]
        if self.generator_s is not None:
            parties.append(("generator", self.generator_s))
        shown = ", ".join(
            f"{name} {spent / self.events * 1e6:.0f} ({spent / self.seconds:.2f})"
            for name, spent in parties
        )
        if self.receiver_s is not None:
            writer_s = self.central_s - self.receiver_s
            shown += (
                f"; of central: writer process {writer_s / self.events * 1e6:.0f}, "
                f"receiver process {self.receiver_s / self.events * 1e6:.0f}"
            )
        return f"  CPU µs/event (cores busy): {shown}"


class Meter:
    """CPU time of central (this process and its receiver child) and of the broker."""

    def __init__(self, broker: Broker, central: Ingest | None = None) -> None:
        self._pid = broker.process.pid
        self._central = self._broker = 0.0
        # Set before phase() when central starts after start(), as in the drain run.
        self.ingest = central
        self._receiver: tuple[int, float] | None = None

    def start(self) -> None:
        self._central = time.process_time()
        self._broker = process_cpu_s(self._pid)
        pid = self.ingest.receiver_pid if self.ingest is not None else None
        self._receiver = (pid, process_cpu_s(pid)) if pid is not None else None

    def _receiver_s(self) -> float | None:
        """The receiver's CPU since start(), all of it if it started since."""
        pid = self.ingest.receiver_pid if self.ingest is not None else None
        if pid is None:
            return None
        spent = process_cpu_s(pid)
        if self._receiver is not None and self._receiver[0] == pid:
            spent -= self._receiver[1]
        return spent

    def phase(self, events: int, seconds: float, generator_s: float | None) -> Phase:
        receiver_s = self._receiver_s()
        central_s = time.process_time() - self._central + (receiver_s or 0.0)
        broker_s = process_cpu_s(self._pid) - self._broker
        return Phase(events, seconds, central_s, broker_s, generator_s, receiver_s)


# --- the phases ------------------------------------------------------------------------------


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


def clear_acks(broker: Broker) -> None:
    """Remove the retained ``ack`` of every station, so a new phase starts from nothing."""
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2, client_id="bench-clear", protocol=MQTTProtocolVersion.MQTTv5
    )
    client.username_pw_set(broker.central.username, broker.central.password)
    client.connect(broker.host, broker.port, keepalive=60)
    client.loop_start()
    try:
        for credentials in broker.stations:
            station = StationId.parse(credentials.username)
            client.publish(topic(station, Channel.ACK), b"", qos=1, retain=True).wait_for_publish(
                10
            )
    finally:
        client.disconnect()
        client.loop_stop()


def raw_broker_phase(broker: Broker, per_station: int, args: argparse.Namespace) -> Phase:
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


class CommitClock:
    """Notes when each message's batch was committed (an ingest commit listener)."""

    def __init__(self) -> None:
        self.committed: list[tuple[float, list[bytes]]] = []
        self.enabled = False

    def __call__(self, messages: Sequence[Inbound], _result: BatchResult) -> None:
        if self.enabled:
            self.committed.append((time.time(), [m.payload for m in messages]))

    def latencies(self, sent: list[tuple[str, int, float]]) -> list[float]:
        sent_at = {(station, seq): at for station, seq, at in sent}
        found = []
        for at, payloads in self.committed:
            for payload in payloads:
                document = json.loads(payload)
                station = f"{document['site']}/{document['line']}/{document['station']}"
                began = sent_at.get((station, document["seq"]))
                if began is not None:
                    found.append(at - began)
        return found


@contextmanager
def running_ingest(
    broker: Broker, url: str, batch_size: int, clock: CommitClock
) -> Iterator[Ingest]:
    settings = CentralSettings(
        database=DatabaseSettings(url=url),
        mqtt=CentralMqtt(
            host=broker.host,
            port=broker.port,
            username=broker.central.username,
            password=SecretStr(broker.central.password),
            # One id for every run: the broker resumes the session instead of keeping an
            # offline one in the shared group, which would take a share of the next run.
            client_id="bench-central",
        ),
        ingest=IngestSettings(batch_size=batch_size, max_in_flight=max(1000, batch_size * 5)),
    )
    engine = open_engine(url)
    central = Ingest(settings, engine)
    central.add_commit_listener(clock)
    central.start()
    try:
        wait_for(lambda: central.subscribed, 10.0, "ingest did not subscribe")
        yield central
    finally:
        central.stop()
        engine.dispose()


@dataclass(frozen=True)
class DatabaseRun:
    sustained: Phase
    latency: Phase | None
    latencies: list[float]  # seconds from publish to commit, at --rate
    drain: Phase | None


def timed_ingest(
    broker: Broker,
    central: Ingest,
    *,
    first_seq: int,
    count: int,
    rate: float | None,
    args: argparse.Namespace,
) -> tuple[Phase, list[tuple[str, int, float]]]:
    """Publish ``count`` events per station into a running central; time them to the commit."""
    events = count * len(broker.stations)
    expected = central.stats().stored + events
    meter = Meter(broker, central)
    start_at, published = run_publishers(
        broker,
        first_seq=first_seq,
        count=count,
        rate=rate,
        window=args.window,
        args=args,
        on_start=meter.start,
    )
    wait_for(lambda: central.stats().stored >= expected, PHASE_TIMEOUT_S, "ingest: events missing")
    phase = meter.phase(events, time.time() - start_at, published.cpu_s)
    return phase, published.sent_at


def ingest_phases(broker: Broker, url: str, args: argparse.Namespace) -> DatabaseRun:
    """Sustained events/s, latencies at a steady rate, then the drain rate, on one database."""
    clear_acks(broker)
    migrate(url)
    engine = open_engine(url)
    with engine.begin() as connection:
        for credentials in broker.stations:
            register_station(
                connection, StationId.parse(credentials.username), registered_by="bench"
            )
    engine.dispose()
    per_station = args.events // len(broker.stations)
    steady = int(args.rate * args.latency_seconds) // len(broker.stations)
    clock = CommitClock()
    latency: Phase | None = None
    sent: list[tuple[str, int, float]] = []
    with running_ingest(broker, url, args.batch_size, clock) as central:
        sustained, _ = timed_ingest(
            broker, central, first_seq=1, count=per_station, rate=None, args=args
        )
        if steady:
            clock.enabled = True
            latency, sent = timed_ingest(
                broker, central, first_seq=per_station + 1, count=steady, rate=args.rate, args=args
            )
    drain = drain_phase(broker, url, args, first_seq=per_station + steady + 1)
    return DatabaseRun(sustained, latency, clock.latencies(sent), drain)


def drain_phase(broker: Broker, url: str, args: argparse.Namespace, first_seq: int) -> Phase | None:
    """Central taking in a queue the broker filled while it was stopped.

    The sustained figure has the publishers (and the broker's work for them) on the same
    cores as central; here they are done before central starts, so the figure is central's
    own capacity, which a central that comes back to a backlog shows. None when the
    preload is 0.
    """
    per_station = int(args.preload) // len(broker.stations)
    if per_station < 1:
        return None
    run_publishers(
        broker,
        first_seq=first_seq,
        count=per_station,
        rate=None,
        window=None,  # central is stopped: its session queues everything
        args=args,
    )
    total = per_station * len(broker.stations)
    with running_ingest(broker, url, args.batch_size, CommitClock()) as central:
        # Timed from the subscription: starting the receiver process (a fresh interpreter,
        # a second or more on a busy machine) is a cost of a restart, not of the drain.
        meter = Meter(broker, central)
        meter.start()
        began, already = time.perf_counter(), central.stats().stored
        wait_for(lambda: central.stats().stored >= total, PHASE_TIMEOUT_S, "drain: events missing")
        return meter.phase(total - already, time.perf_counter() - began, None)


# --- the trace data set ----------------------------------------------------------------------


# The trace data set, generated by the database itself (a million rows through Python
# would take minutes): what the ingest stores for read events of one station, lots of
# 1,000 items over four GTINs, one event every 50 ms.
_GTIN_CASE = "CASE n % 4 " + " ".join(f"WHEN {i} THEN '{g}'" for i, g in enumerate(GTINS)) + " END"
_LOAD_POSTGRES = f"""
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT md5(n::text || random()::text)::uuid, '1.1', 'trace', 'L1', 'pack-1', n, 'read',
    at, 25200, at, 'DataMatrix', ']d2', '01' || gtin || '10' || lot || chr(29) || '21' || serial,
    gtin, serial, lot, 3,
    json_build_object('schema_version', '1.1', 'site', 'trace', 'line', 'L1',
        'station', 'pack-1', 'seq', n, 'kind', 'read', 'observed_at', at,
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01' || gtin || '10' || lot || chr(29) || '21' || serial,
        'gs1', json_build_object('01', gtin, '10', lot, '21', serial), 'frames', 3)
FROM (
    SELECT n, {_GTIN_CASE} AS gtin, 'T' || lpad((n / {ITEMS_PER_LOT})::text, 5, '0') AS lot,
        lpad(n::text, 8, '0') AS serial,
        timestamptz '2025-03-01 01:00:00+00' + n * interval '50 milliseconds' AS at
    FROM generate_series(1, :count) AS n
) AS generated
"""
_LOAD_SQLITE = f"""
WITH RECURSIVE numbers(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM numbers WHERE n < :count),
generated AS (
    SELECT n, {_GTIN_CASE} AS gtin, 'T' || printf('%05d', n / {ITEMS_PER_LOT}) AS lot,
        printf('%08d', n) AS serial,
        strftime('%Y-%m-%d %H:%M:%f', '2025-03-01 01:00:00', '+' || (n * 0.05) || ' seconds')
            || '000' AS at
    FROM numbers
)
INSERT INTO events (event_id, schema_version, site, line, station, seq, kind, observed_at,
    utc_offset_s, received_at, symbology, symbology_id, text, gtin, serial, lot, frames, payload)
SELECT lower(hex(randomblob(16))), '1.1', 'trace', 'L1', 'pack-1', n, 'read', at, 25200, at,
    'DataMatrix', ']d2', '01' || gtin || '10' || lot || char(29) || '21' || serial,
    gtin, serial, lot, 3,
    json_object('schema_version', '1.1', 'site', 'trace', 'line', 'L1', 'station', 'pack-1',
        'seq', n, 'kind', 'read', 'observed_at', replace(at, ' ', 'T') || '+00:00',
        'symbology', 'DataMatrix', 'symbology_id', ']d2',
        'text', '01' || gtin || '10' || lot || char(29) || '21' || serial,
        'gs1', json_object('01', gtin, '10', lot, '21', serial), 'frames', 3)
FROM generated
"""


def bulk_load(engine: Engine, count: int) -> float:
    """Put ``count`` events straight into ``events``; return the seconds it took.

    The indexes are dropped for the load and built afterwards: the same end state, much
    faster than maintaining them row by row. The lot summaries the lot trace reads are
    then counted from the loaded events, as the migration does for events stored before it.
    """
    from linetrace.central.lotsummary import rebuild_lot_summaries

    began = time.perf_counter()
    with engine.begin() as connection:
        for index in events.indexes:
            index.drop(connection)
        postgres = connection.dialect.name == "postgresql"
        connection.execute(sa.text(_LOAD_POSTGRES if postgres else _LOAD_SQLITE), {"count": count})
        for index in events.indexes:
            index.create(connection)
        rebuild_lot_summaries(connection)
        if postgres:
            # What autovacuum does soon after a load; the service never runs ANALYZE on
            # SQLite, so neither does the benchmark.
            connection.exec_driver_sql("ANALYZE events")
    return time.perf_counter() - began


def trace_timings(engine: Engine, count: int) -> dict[str, float]:
    """Median milliseconds of a lot trace and of a per-code lookup (each checked)."""
    lot_count = max(1, count // ITEMS_PER_LOT)
    lots = [f"T{n:05d}" for n in range(1, lot_count + 1, max(1, lot_count // QUERY_REPEATS))]
    serials = [f"{n:08d}" for n in range(7, count + 1, max(1, count // QUERY_REPEATS))]
    timings: dict[str, float] = {}
    with engine.connect() as connection:

        def lookup(serial: str) -> None:
            found = find_events(connection, EventQuery(code=serial, limit=10)).events
            if [event.payload["seq"] for event in found] != [int(serial)]:
                raise AssertionError(f"code {serial}: found {len(found)} events, not 1")

        timings["code lookup"] = _median_ms(lookup, serials)
        try:
            from linetrace.central.traces import trace_lot
        except ImportError:
            return timings

        def trace(lot: str) -> None:
            if not trace_lot(connection, lot).items.items:
                raise AssertionError(f"lot {lot}: the trace lists no items")

        timings["lot trace"] = _median_ms(trace, lots)
    return timings


def _median_ms(run: Callable[[str], object], keys: Sequence[str]) -> float:
    run(keys[0])  # warm the caches the way a running service has them
    times = []
    for key in keys[:QUERY_REPEATS]:
        began = time.perf_counter()
        run(key)
        times.append((time.perf_counter() - began) * 1000)
    return statistics.median(times)


# --- databases -------------------------------------------------------------------------------


def postgres_admin_url() -> str:
    return os.environ.get(
        "LINETRACE_BENCH_DATABASE_URL",
        os.environ.get(
            "LINETRACE_TEST_DATABASE_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
        ),
    )


@contextmanager
def throwaway_postgres() -> Iterator[str | None]:
    admin_url = make_url(postgres_admin_url())
    libpq = admin_url.set(drivername="postgresql").render_as_string(hide_password=False)
    try:
        admin = psycopg.connect(libpq, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        print(f"PostgreSQL skipped: {str(exc).strip().splitlines()[0]}")
        yield None
        return
    name = f"linetrace_bench_{secrets.token_hex(4)}"
    with admin:
        admin.execute(f'CREATE DATABASE "{name}"')
        try:
            yield admin_url.set(drivername="postgresql+psycopg", database=name).render_as_string(
                hide_password=False
            )
        finally:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def database(kind: str, folder: Path, label: str) -> Iterator[str | None]:
    if kind == "sqlite":
        yield f"sqlite:///{folder / f'{label}.db'}"
        return
    with throwaway_postgres() as url:
        yield url


# --- main ------------------------------------------------------------------------------------


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def report(kind: str, run: DatabaseRun, raw: Phase, args: argparse.Namespace) -> None:
    sustained = run.sustained
    print(
        f"{kind}: sustained {sustained.rate:,.0f} events/s ({sustained.rate / raw.rate:.0%} of raw)"
    )
    print(sustained.cpu())
    if run.latency is not None and run.latencies:
        print(
            f"{kind}: latency at {args.rate:,.0f} events/s ({run.latency.rate:,.0f} achieved): "
            f"p50 {percentile(run.latencies, 0.5) * 1000:.0f} ms, "
            f"p99 {percentile(run.latencies, 0.99) * 1000:.0f} ms ({len(run.latencies)} events)"
        )
        print(run.latency.cpu())
    if run.drain is not None:
        print(
            f"{kind}: drain of a {run.drain.events:,}-event backlog: "
            f"{run.drain.rate:,.0f} events/s ({run.drain.rate / raw.rate:.0%} of raw)"
        )
        print(run.drain.cpu())


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=20_000, help="events per throughput run")
    parser.add_argument("--stations", type=int, default=8, help="simulated stations")
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--rate", type=float, default=1000.0, help="events/s of the latency run")
    parser.add_argument("--latency-seconds", type=float, default=10.0, help="length of that run")
    parser.add_argument(
        "--trace-rows", type=int, default=1_000_000, help="events for the trace timings (0: skip)"
    )
    parser.add_argument("--batch-size", type=int, default=IngestSettings().batch_size)
    parser.add_argument(
        "--window", type=int, default=DEFAULT_WINDOW, help="events per station beyond the ack"
    )
    parser.add_argument(
        "--generator",
        choices=sorted(GENERATORS),
        default="raw",
        help="how the stations publish: raw MQTT v5 packets (cheap) or paho-mqtt clients",
    )
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    parser.add_argument(
        "--preload",
        type=int,
        default=DEFAULT_PRELOAD,
        help="events queued while central is stopped, for the drain rate (0: skip)",
    )
    args = parser.parse_args(argv)
    if args.window * args.stations > MAX_QUEUED_MESSAGES:
        # The broker drops what overflows central's queue; an edge would resend it, the
        # load generator does not, so a phase would stall instead of measuring anything.
        parser.error(
            f"--window x --stations ({args.window * args.stations}) exceeds the broker's "
            f"per-client queue ({MAX_QUEUED_MESSAGES}); lower --window"
        )
    kinds = ["sqlite", "postgresql"] if args.database == "both" else [args.database]
    print(
        f"cores: {os.cpu_count()}, events: {args.events}, stations: {args.stations}, "
        f"batch size: {args.batch_size}, window: {args.window}"
    )
    print(
        f"load generator: {GENERATORS[args.generator][1]}, in {args.publishers} process(es); "
        f"one connection per station, QoS 1, at most {MAX_INFLIGHT} awaiting a PUBACK"
    )
    print(f"no-op consumer: {NOOP_CONSUMER}")
    with tempfile.TemporaryDirectory(prefix="linetrace-bench-") as tmp:
        folder = Path(tmp)
        with running_broker(folder, args.stations) as broker:
            raw = raw_broker_phase(broker, args.events // args.stations, args)
            print(f"raw broker rate (no-op consumer): {raw.rate:,.0f} events/s")
            print(raw.cpu("consumer"))
            for kind in kinds:
                with database(kind, folder, "ingest") as url:
                    if url is not None:
                        report(kind, ingest_phases(broker, url, args), raw, args)
        for kind in kinds if args.trace_rows else []:
            with database(kind, folder, "trace") as url:
                if url is None:
                    continue
                migrate(url)
                engine = open_engine(url)
                try:
                    loaded = bulk_load(engine, args.trace_rows)
                    timings = trace_timings(engine, args.trace_rows)
                finally:
                    engine.dispose()
                shown = ", ".join(f"{name} {ms:.1f} ms" for name, ms in timings.items())
                print(
                    f"{kind}: {args.trace_rows:,} events loaded in {loaded:.0f} s; median {shown}"
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
