"""The live hub's fan-out: a stalled subscriber loses messages (counted), others do not;
and the database tail hands out each stored event once."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from datetime import UTC, datetime, timedelta

from sqlalchemy.engine import Engine

from linetrace.central.api.live_hub import LiveHub, Message, Wanted
from linetrace.central.query.live_tail import TailCursor, tail
from tests.central.dashboard.seeding import insert
from tests.central.helpers import make_event


def run(scenario: Callable[[], Coroutine[None, None, None]]) -> None:
    """Run ``scenario`` in a loop of its own thread (a browser test's loop may be running
    in this one)."""
    failures: list[BaseException] = []

    def target() -> None:
        try:
            asyncio.run(scenario())
        except BaseException as exc:  # noqa: BLE001 (handed to the test's thread)
            failures.append(exc)

    thread = threading.Thread(target=target)
    thread.start()
    thread.join()
    if failures:
        raise failures[0]


def scan(station: str, seq: int) -> Message:
    site, line, name = station.split("/")
    return Message("scan", {"seq": seq}, site, line, name)


def test_a_stalled_subscriber_drops_and_others_get_everything(engine: Engine) -> None:
    async def scenario() -> None:
        hub = LiveHub(engine, queue_size=4)
        stalled = hub.subscribe(Wanted())
        reader = hub.subscribe(Wanted(line="L1"))
        other_line = hub.subscribe(Wanted(line="L2"))
        got = []
        for seq in range(1, 21):
            hub.publish([scan("hcm1/L1/s1", seq)])
            got.append((await reader.queue.get()).data["seq"])
        assert got == list(range(1, 21))
        assert stalled.queue.qsize() == 4
        assert stalled.take_dropped() == 16
        assert stalled.take_dropped() == 0
        assert hub.dropped == 16
        assert other_line.queue.empty()
        await hub.stop()

    run(scenario)


def test_scope_limits_what_a_subscriber_sees(engine: Engine) -> None:
    async def scenario() -> None:
        hub = LiveHub(engine)
        scoped = hub.subscribe(Wanted(sees=lambda site, line: line == "L2"))
        hub.publish([scan("hcm1/L1/s1", 1), scan("hcm1/L2/s1", 2)])
        assert (await scoped.queue.get()).data["seq"] == 2
        assert scoped.queue.empty()
        await hub.stop()

    run(scenario)


def test_the_tail_hands_out_each_new_event_once(database_url: str, engine: Engine) -> None:
    now = datetime.now(UTC)
    insert(database_url, [make_event(1, observed_at=now)], now)
    cursor = TailCursor()
    with engine.connect() as conn:
        assert tail(conn, cursor, now).events == []  # priming: only what comes next
    later = [make_event(seq, observed_at=now) for seq in (2, 3)]
    # Received "earlier" than the cursor, as from a replica whose batch committed late.
    insert(database_url, later, now - timedelta(seconds=1))
    with engine.connect() as conn:
        first = tail(conn, cursor, now + timedelta(seconds=1))
        second = tail(conn, cursor, now + timedelta(seconds=2))
    assert sorted(event["seq"] for event in first.events) == [2, 3]
    assert second.events == []
