"""The soak's stations: steady-rate publishers that time each event until central confirms it.

Each publisher process runs a group of stations on asyncio, each on its own MQTT v5
connection with the station's own credentials, subscribed to its ``ack`` topic as an
edge is. Events fall due at the set rate; each is encoded when due (its ``observed_at``
and UUIDv7 are that moment, so central's lag figures are real) and waits in the
station's queue, as in an edge's outbox, until fewer than ``MAX_INFLIGHT`` messages
await a PUBACK. An event's latency runs from when it fell due to when central's
retained ``ack`` watermark covered it: committed, and the edge told so.

Every ``sample_s`` the process reports the window just ended (:class:`WindowReport`);
after ``duration_s`` it stops making events, waits up to ``drain_s`` for central to
confirm the rest, reports that as the drain window and ends with a
:class:`FinalReport`: what each station published and what central confirmed.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import secrets
import time
from collections import deque
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from multiprocessing.connection import Connection as Pipe

from harness.events import HCM, event_payload, gtin_of, lot_of
from harness.wire import MqttConnection, open_connection, publish_packet
from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.edge.delivery.publisher import MAX_INFLIGHT

__all__ = ["DRAIN", "FinalReport", "SoakPlan", "SoakStation", "WindowReport", "soak_publisher_main"]

# The index of the window reported after the run, while central confirms the rest.
DRAIN = -1
# How often the loop makes the events that fell due: small next to any window, large
# enough that a process at 2,000 events/s wakes 100 times a second, not 2,000.
TICK_S = 0.01


@dataclass(frozen=True)
class SoakPlan:
    host: str
    port: int
    stations: list[tuple[str, str]]  # (station id, which is also its user name; password)
    rate: float  # events/s over this process's stations
    duration_s: float
    sample_s: float
    drain_s: float


@dataclass(frozen=True)
class WindowReport:
    index: int  # 0, 1, ... or DRAIN
    published: int  # events written to the broker in the window
    confirmed: int  # events central's watermark covered in the window
    latencies: list[float]  # seconds from due to confirmed, of those
    waiting: int  # at the window's end: due, not yet written (the edge's outbox backlog)
    unconfirmed: int  # at the window's end: written, not yet confirmed


@dataclass(frozen=True)
class FinalReport:
    published: dict[str, int]  # station -> events published (seqs 1..n)
    confirmed: dict[str, int]  # station -> central's last watermark
    cpu_s: float  # the process's CPU time from the start to the end of the drain


class SoakStation(MqttConnection):
    """One simulated edge: its queue, its in-flight window, its latencies."""

    def __init__(self, station: StationId, password: str) -> None:
        client_id = f"soak-{str(station).replace('/', '-')}-{secrets.token_hex(3)}"
        super().__init__(client_id, str(station), password, topic(station, Channel.ACK))
        self.station = station
        self.name = str(station)
        self._events_topic = topic(station, Channel.EVENTS)
        self.made = 0  # the last seq made
        self.acked = 0
        self.inflight = 0
        self.published = 0
        self.confirmed = 0
        self.latencies: list[float] = []
        self.failed: str | None = None
        self._waiting: deque[tuple[int, float, bytes]] = deque()  # (seq, due, packet)
        self._written: deque[tuple[int, float]] = deque()  # (seq, due)

    def make(self, due: float) -> None:
        """The next event, due at ``due`` (Unix time), into the queue."""
        self.made += 1
        seq = self.made
        observed = datetime.fromtimestamp(due, UTC).astimezone(HCM)
        payload = event_payload(self.station, seq, lot_of(seq), gtin_of(seq), observed)
        self._waiting.append(
            (seq, due, publish_packet(self._events_topic, payload, seq % 65_535 + 1))
        )

    def flush(self) -> None:
        """Write what the in-flight window allows, in one write."""
        room = min(MAX_INFLIGHT, self.receive_maximum) - self.inflight
        if room <= 0 or not self._waiting:
            return
        packets = []
        while room > 0 and self._waiting:
            seq, due, packet = self._waiting.popleft()
            packets.append(packet)
            self._written.append((seq, due))
            room -= 1
        self.inflight += len(packets)
        self.published += len(packets)
        self.write(b"".join(packets))

    def on_puback(self, reason: int) -> None:
        self.inflight -= 1
        if reason >= 0x80 and self.failed is None:
            self.failed = f"{self.name}: PUBLISH refused ({reason:#x})"

    def on_message(self, topic_name: str, payload: bytes) -> None:
        if not payload:
            return
        watermark = AckWatermark.model_validate_json(payload).seq
        if watermark <= self.acked:
            return
        self.acked = watermark
        now = time.time()
        while self._written and self._written[0][0] <= watermark:
            _, due = self._written.popleft()
            self.latencies.append(now - due)
            self.confirmed += 1

    def after_read(self) -> None:
        self.flush()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if self.failed is None:
            self.failed = f"{self.name}: connection lost ({exc})"

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    @property
    def unconfirmed(self) -> int:
        return len(self._written)


class _Windows:
    """What the stations did since the last report."""

    def __init__(self, stations: list[SoakStation]) -> None:
        self._stations = stations
        self._published = self._confirmed = 0

    def report(self, index: int) -> WindowReport:
        published = sum(s.published for s in self._stations)
        confirmed = sum(s.confirmed for s in self._stations)
        latencies = [value for s in self._stations for value in s.latencies]
        for station in self._stations:
            station.latencies = []
        report = WindowReport(
            index,
            published - self._published,
            confirmed - self._confirmed,
            latencies,
            sum(s.waiting for s in self._stations),
            sum(s.unconfirmed for s in self._stations),
        )
        self._published, self._confirmed = published, confirmed
        return report


async def _soak(plan: SoakPlan, link: Pipe) -> FinalReport:
    stations = [
        await open_connection(
            partial(SoakStation, StationId.parse(name), password), plan.host, plan.port
        )
        for name, password in plan.stations
    ]
    link.send("ready")
    start_at: float = link.recv()
    await asyncio.sleep(max(0.0, start_at - time.time()))
    cpu_before = time.process_time()
    windows = _Windows(stations)
    interval = len(stations) / plan.rate  # one event per station per round
    end_at = start_at + plan.duration_s
    total_rounds = math.ceil(plan.duration_s / interval - 1e-9)  # those due before end_at
    rounds = index = 0
    next_report = start_at + plan.sample_s
    while True:
        now = time.time()
        # Every round due by now (round r falls due at start_at + r * interval).
        due_rounds = min(total_rounds, int((now - start_at) / interval) + 1)
        while rounds < due_rounds:
            due = start_at + rounds * interval
            for station in stations:
                station.make(due)
            rounds += 1
        for station in stations:
            if station.failed is not None:
                raise ConnectionError(station.failed)
            station.flush()
        if now >= min(next_report, end_at):
            link.send(windows.report(index))
            index += 1
            if now >= end_at:
                break
            next_report += plan.sample_s
        await asyncio.sleep(TICK_S)
    drain_until = time.time() + plan.drain_s
    while time.time() < drain_until and any(s.waiting or s.unconfirmed for s in stations):
        for station in stations:
            station.flush()
        await asyncio.sleep(TICK_S)
    link.send(windows.report(DRAIN))
    cpu_s = time.process_time() - cpu_before
    final = FinalReport(
        {s.name: s.made for s in stations}, {s.name: s.acked for s in stations}, cpu_s
    )
    for station in stations:
        station.close()
    return final


def soak_publisher_main(plan: SoakPlan, link: Pipe) -> None:
    """One publisher process: connect its stations, wait for the start, run, report."""
    link.send(asyncio.run(_soak(plan, link)))
    # Alive until the soak has taken its last memory sample of this process.
    with contextlib.suppress(EOFError):
        link.recv()
    link.close()
