"""The relay worker against a real sandbox and a real database: exactly once, and the
faults ridden out (a target down, a 429 storm, a 413, a bad event, a lost answer)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sqlalchemy.engine import Connection, Engine

from linetrace.central.relay.breaker import BreakerState
from linetrace.central.relay.outgoing import map_claimed
from linetrace.central.relay.queue import Claimed
from linetrace.central.relay.targets.base import Outgoing
from tests.central.relay.conftest import Closing, SandboxFactory
from tests.central.relay.relay_helpers import queue_rows, reads, state_counts, store_queued
from tests.central.relay.worker_helpers import accepted_once, drive, sandbox_ids, worker_for
from tests.conditions import wait_until


@pytest.mark.parametrize("profile", ["epcis-async", "epcis-sync"])
def test_every_event_is_captured_exactly_once(
    engine: Engine, sandbox: SandboxFactory, closing: Closing, profile: str
) -> None:
    server = sandbox(profile)
    store_queued(engine, reads(250), ("repo",))
    worker = closing(worker_for(engine, server))
    drive(worker, engine, 250)
    accepted_once(engine, server)
    assert worker.step() == 0  # nothing left, nothing sent again


def test_a_target_down_then_back_gets_everything_once(
    engine: Engine, sandbox: SandboxFactory, closing: Closing
) -> None:
    server = sandbox("epcis-sync")  # stores a resent event twice: a double would show
    store_queued(engine, reads(120), ("repo",))
    worker = closing(worker_for(engine, server))
    server.faults(down=True)
    wait_until(lambda: worker.step() == 0 and worker.breaker.state is BreakerState.OPEN)
    assert state_counts(engine, "repo")["accepted"] == 0
    assert all(row["attempts"] >= 1 for row in queue_rows(engine, "repo")[:100])
    server.faults(down=False)
    drive(worker, engine, 120)
    accepted_once(engine, server)


def test_a_429_storm_is_ridden_out_honouring_retry_after(
    engine: Engine, sandbox: SandboxFactory, closing: Closing
) -> None:
    server = sandbox("epcis-async")
    store_queued(engine, reads(50), ("repo",))
    worker = closing(worker_for(engine, server))
    server.faults(throttle_next=3, retry_after_s=1)
    assert worker.step() == 50
    # The target asked for a second: no claim until then, even below the failure count.
    assert worker.breaker.state is BreakerState.OPEN
    assert worker.step() == 0
    assert state_counts(engine, "repo") == {"queued": 50}
    drive(worker, engine, 50)
    accepted_once(engine, server)


def test_a_413_halves_the_document_and_the_limits(
    engine: Engine, sandbox: SandboxFactory, closing: Closing
) -> None:
    server = sandbox("epcis-async")
    store_queued(engine, reads(100), ("repo",))
    worker = closing(worker_for(engine, server, concurrency=1))
    assert worker._target.limits() == (100, 100_000)
    server.faults(max_body_bytes=30_000)
    drive(worker, engine, 100)
    accepted_once(engine, server)
    events, size = worker._target.limits()
    assert events <= 50
    assert size <= 50_000


def _breaking(bad: int) -> object:
    """A mapper that writes the ``bad``-th event with a time the schema refuses."""

    def mapper(
        connection: Connection, rows: Sequence[Claimed]
    ) -> tuple[dict[int, Outgoing], dict[int, str]]:
        outgoing, reasons = map_claimed(connection, rows)
        for row_id, event in outgoing.items():
            if event.body.get("lt:seq", None) == bad or row_id % 1000 == bad:
                outgoing[row_id] = Outgoing(
                    event.source_event_id, event.epcis_event_id, event.lot, event.gtin,
                    {**event.body, "eventTime": "yesterday"},
                )  # fmt: skip
        return outgoing, reasons

    return mapper


@pytest.mark.parametrize("profile", ["epcis-async", "epcis-sync"])
def test_a_malformed_event_is_rejected_alone(
    engine: Engine, sandbox: SandboxFactory, closing: Closing, profile: str
) -> None:
    server = sandbox(profile)
    store_queued(engine, reads(40), ("repo",))
    worker = closing(worker_for(engine, server, mapper=_breaking(7)))  # type: ignore[arg-type]
    drive(worker, engine, 40)
    rows = queue_rows(engine, "repo")
    rejected = [row for row in rows if row["state"] == "rejected"]
    assert [row["id"] % 1000 for row in rejected] == [7]
    assert "eventTime" in rejected[0]["reason"] or "yesterday" in rejected[0]["reason"]
    stored = sandbox_ids(server)
    assert len(stored) == len(set(stored)) == 39


def test_a_lost_answer_is_not_captured_twice(
    engine: Engine, sandbox: SandboxFactory, closing: Closing
) -> None:
    server = sandbox("epcis-sync")  # stores duplicates: only our own checks prevent them
    worker = closing(worker_for(engine, server))
    assert worker.step() == 0  # reads the limits: the next request is the capture
    store_queued(engine, reads(30), ("repo",))
    server.faults(lose_answer_next=1)
    assert worker.step() == 30
    assert state_counts(engine, "repo") == {"sent": 30}  # stored there, unknown here
    assert len(sandbox_ids(server)) == 30
    drive(worker, engine, 30)
    accepted_once(engine, server)
