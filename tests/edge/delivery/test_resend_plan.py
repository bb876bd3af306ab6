"""The delivery plan: live before backlog, resends on timeout, the watermark's coverage."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.resend_plan import DeliveryPlan, Lane, Outgoing
from linetrace.edge.line.passage import Passage

STATION = StationId("hcm1", "L1", "pack-1")
ICT = timezone(timedelta(hours=7))
RESEND_S = 30.0
RETRY_S = 10.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outbox(tmp_path: Path) -> Iterator[Outbox]:
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        yield outbox


def store(outbox: Outbox, count: int) -> None:
    for _ in range(count):
        seen = datetime(2026, 3, 1, 8, 0, tzinfo=ICT)
        outbox.append(
            Passage(kind=EventKind.READ, first_seen=seen, last_seen=seen, frames=1, text="x")
        )


def plan_for(outbox: Outbox, clock: Clock) -> DeliveryPlan:
    plan = DeliveryPlan(outbox, resend_timeout_s=RESEND_S, retry_refused_s=RETRY_S, clock=clock)
    plan.start_connection()
    return plan


def seqs(outgoing: list[Outgoing]) -> list[int]:
    return [event.seq for event in outgoing]


def test_new_events_go_ahead_of_the_backlog_which_keeps_its_share(outbox: Outbox) -> None:
    store(outbox, 20)  # an outage's worth, stored before the connection
    plan = plan_for(outbox, Clock())
    store(outbox, 3)  # passages happening now
    outgoing = plan.next(10)
    assert seqs(outgoing) == [21, 22, 23, 1, 2, 3, 4, 5]
    assert [event.lane for event in outgoing] == [Lane.LIVE] * 3 + [Lane.BACKLOG] * 5
    assert plan.next(10) == []  # the backlog holds its half of the window
    for seq in (1, 2):
        plan.taken(seq)
    assert seqs(plan.next(10)) == [6, 7]  # freed backlog slots refill oldest first
    store(outbox, 4)
    assert seqs(plan.next(10)) == [24, 25]  # live takes whatever room is left


def test_an_event_central_does_not_cover_in_time_is_sent_again(outbox: Outbox) -> None:
    clock = Clock()
    store(outbox, 3)
    plan = plan_for(outbox, clock)
    store(outbox, 3)
    assert seqs(plan.next(10)) == [4, 5, 6, 1, 2, 3]
    for seq in range(1, 7):
        plan.taken(seq)
    assert plan.uncovered == 6
    assert plan.cover(4)  # central has 1-4; 5 and 6 went missing after the broker took them
    clock.now += RESEND_S - 1
    assert plan.due_again() == 0
    clock.now += 1
    assert plan.due_again() == 2
    again = plan.next(10)
    assert seqs(again) == [5, 6]
    assert all(event.resend and event.lane is Lane.BACKLOG for event in again)
    assert [payload for _, payload in outbox.fetch([5, 6])] == [e.payload for e in again]


def test_a_watermark_that_is_no_news_changes_nothing(outbox: Outbox) -> None:
    store(outbox, 5)
    plan = plan_for(outbox, Clock())
    assert plan.cover(3)
    assert plan.watermark == 3
    assert not plan.cover(3)
    assert not plan.cover(2)
    assert plan.watermark == 3
    assert seqs(plan.next(2)) == [4]  # the backlog starts above the watermark


def test_refused_events_wait_for_the_retry_and_a_refusing_broker_pauses_all(
    outbox: Outbox,
) -> None:
    clock = Clock()
    plan = plan_for(outbox, clock)
    store(outbox, 6)
    assert seqs(plan.next(4)) == [1, 2, 3, 4]
    for seq in (1, 2, 3, 4):
        plan.refused(seq)
    assert plan.next(4) == []  # a whole window refused in a row: the station is refused
    clock.now += RETRY_S
    assert plan.due_again() == 4
    assert seqs(plan.next(4)) == [5, 6, 1, 2]  # live first, the retries on the backlog lane


def test_events_without_a_subscriber_go_again_when_central_is_back(outbox: Outbox) -> None:
    clock = Clock()
    plan = plan_for(outbox, clock)
    store(outbox, 4)
    assert seqs(plan.next(4)) == [1, 2, 3, 4]
    for seq in (1, 2):
        plan.refused(seq, unrouted=True)  # central not subscribed
    plan.refused(3)  # refused by the ACL: central's return does not fix that
    plan.refused(4, unrouted=True)
    assert plan.next(4) == []  # a whole window refused: paused
    plan.cover(1)  # central had 1 after all
    assert plan.subscriber_back() == 2  # at once, without waiting for the retry
    assert seqs(plan.next(4)) == [2, 4]
    plan.taken(2)
    plan.taken(4)
    assert plan.subscriber_back() == 0
    clock.now += RETRY_S
    assert plan.due_again() == 1
    assert seqs(plan.next(4)) == [3]


def test_a_new_connection_sends_everything_uncovered_again(outbox: Outbox) -> None:
    store(outbox, 4)
    plan = plan_for(outbox, Clock())
    assert seqs(plan.next(10)) == [1, 2, 3, 4]
    for seq in (1, 2, 3):
        plan.taken(seq)  # 4 is still in flight when the link drops
    plan.cover(1)
    plan.start_connection()
    again = plan.next(10)
    assert seqs(again) == [2, 3, 4]
    assert all(event.resend for event in again)
    store(outbox, 1)
    [fresh] = plan.next(10)
    assert (fresh.seq, fresh.lane, fresh.resend) == (5, Lane.LIVE, False)


def test_the_backlog_pauses_while_central_lags_too_far_behind(outbox: Outbox) -> None:
    store(outbox, 10)
    plan = DeliveryPlan(outbox, resend_timeout_s=RESEND_S, retry_refused_s=RETRY_S, max_uncovered=3)
    plan.start_connection()
    for seq in seqs(plan.next(6)):
        plan.taken(seq)
    assert plan.uncovered == 3
    assert plan.next(6) == []  # central has not covered 3 events the broker took
    plan.cover(3)
    assert seqs(plan.next(6)) == [4, 5, 6]


def test_an_event_paho_did_not_take_is_offered_again(outbox: Outbox) -> None:
    store(outbox, 2)
    plan = plan_for(outbox, Clock())
    assert seqs(plan.next(4)) == [1, 2]
    plan.lost(2)
    assert plan.inflight == 1
    assert seqs(plan.next(4)) == [2]
