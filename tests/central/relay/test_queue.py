"""The relay queue on SQLite and PostgreSQL: enqueue with the ingest, claims and leases,
marks only by the claim's holder, retries of rejected events, retractions."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy.engine import Engine

from linetrace.central.relay import queue
from linetrace.central.store import open_engine
from tests.central.helpers import make_event
from tests.central.relay.relay_helpers import queue_rows, reads, state_counts, store_queued

LEASE_S = 60.0


def now() -> datetime:
    return datetime.now(UTC)


def claim(
    engine: Engine, worker: str, limit: int = 100, at: datetime | None = None
) -> list[queue.Claimed]:
    with engine.begin() as connection:
        return queue.claim(connection, "repo", worker, limit, at or now(), LEASE_S)


def test_ingest_queues_reads_and_packs_for_every_target_once(engine: Engine) -> None:
    scans = [*reads(3), make_event(4, kind="noread")]
    result = store_queued(engine, scans, ("repo", "portal"))
    assert result.stored == 4
    store_queued(engine, scans, ("repo", "portal"))  # a resend: stored once, queued once
    rows = queue_rows(engine)
    assert len(rows) == 6  # 3 reads x 2 targets; the no-read is not relayed
    assert {row["target"] for row in rows} == {"repo", "portal"}
    assert {row["state"] for row in rows} == {"queued"}
    assert {row["lot"] for row in rows} == {"L2611"}
    assert {row["event_id"] for row in rows} == {s.event_id for s in scans[:3]}


def test_no_targets_queue_nothing(engine: Engine) -> None:
    store_queued(engine, reads(2), ())
    assert queue_rows(engine) == []


def test_a_claim_holds_rows_until_its_lease_lapses(engine: Engine) -> None:
    store_queued(engine, reads(5), ("repo",))
    first = claim(engine, "a", limit=3)
    assert [row.event_id for row in first] == [r["event_id"] for r in queue_rows(engine)[:3]]
    second = claim(engine, "b")
    assert {row.id for row in second}.isdisjoint(row.id for row in first)
    assert len(second) == 2
    assert claim(engine, "c") == []
    # a's lease lapses (a was killed): c gets a's rows; a's late marks change nothing.
    later = claim(engine, "c", at=now() + timedelta(seconds=LEASE_S + 1))
    assert {row.id for row in later} == {row.id for row in first} | {row.id for row in second}
    with engine.begin() as connection:
        ids = {row.id: "ni:///x" for row in first}
        queue.mark_sent(connection, ids, "a", now())
        assert queue.mark_accepted(connection, "repo", first, ids, "a", now()) == 0
    assert state_counts(engine, "repo") == {"queued": 5}


def test_marks_and_the_ledger(engine: Engine) -> None:
    store_queued(engine, reads(4), ("repo",))
    rows = claim(engine, "a")
    ids = {row.id: f"ni:///{row.id}" for row in rows}
    with engine.begin() as connection:
        queue.mark_sent(connection, ids, "a", now())
        queue.mark_accepted(connection, "repo", rows[:2], ids, "a", now())
        queue.mark_rejected(connection, {rows[2].id: "bad lot"}, "a", now())
        queue.mark_retry(connection, {rows[3].id: (30.0, True)}, "503", "a", now())
    assert state_counts(engine, "repo") == {"accepted": 2, "rejected": 1, "sent": 1}
    with engine.connect() as connection:
        assert queue.in_ledger(connection, "repo", "capture", ids.values()) == {
            ids[rows[0].id],
            ids[rows[1].id],
        }
    retried = queue_rows(engine)[3]
    assert retried["attempts"] == 1
    assert retried["reason"] == "503"
    assert retried["claimed_by"] is None
    assert claim(engine, "b") == []  # not due for 30 s
    due = claim(engine, "b", at=now() + timedelta(seconds=31))
    assert [row.id for row in due] == [rows[3].id]
    assert due[0].in_doubt


def test_rejected_events_are_queued_again_by_target_and_lot(engine: Engine) -> None:
    store_queued(engine, reads(2), ("repo", "portal"))
    for target in ("repo", "portal"):
        with engine.begin() as connection:
            rows = queue.claim(connection, target, "a", 10, now(), LEASE_S)
            queue.mark_rejected(connection, {row.id: "no" for row in rows}, "a", now())
    with engine.begin() as connection:
        assert queue.retry_rejected(connection, now(), target="repo", lot="other") == 0
        assert queue.retry_rejected(connection, now(), target="repo", lot="L2611") == 2
    assert state_counts(engine, "repo") == {"queued": 2}
    assert state_counts(engine, "portal") == {"rejected": 2}


def test_a_retraction_waits_for_its_capture_to_be_accepted(engine: Engine) -> None:
    scan = reads(1)[0]
    store_queued(engine, [scan], ("repo", "portal"))
    with engine.begin() as connection:
        rejected = queue.claim(connection, "portal", "a", 10, now(), LEASE_S)
        queue.mark_rejected(connection, {rejected[0].id: "no"}, "a", now())
        assert queue.queue_retractions(connection, scan.event_id, "wrong lot", now()) == ["repo"]
        assert queue.queue_retractions(connection, scan.event_id, "again", now()) == []
    capture = claim(engine, "a")
    assert [row.action for row in capture] == ["capture"]  # the retraction is not due yet
    with engine.begin() as connection:
        queue.mark_accepted(connection, "repo", capture, {capture[0].id: "ni:///1"}, "a", now())
    retract = claim(engine, "a")
    assert [row.action for row in retract] == ["retract"]
    assert retract[0].declaration is not None
    assert retract[0].declaration["reason"] == "wrong lot"


@pytest.mark.postgres
def test_concurrent_claims_on_postgres_never_share_a_row(postgres_url: str) -> None:
    engine = open_engine(postgres_url)
    try:
        store_queued(engine, reads(600), ("repo",))
        taken: dict[str, list[int]] = {}

        def worker(name: str) -> None:
            mine = taken.setdefault(name, [])
            while batch := claim(engine, name, limit=7):
                mine += [row.id for row in batch]

        threads = [threading.Thread(target=worker, args=(f"w{i}",)) for i in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        every = [row_id for ids in taken.values() for row_id in ids]
        assert len(every) == len(set(every)) == 600
        assert sum(1 for ids in taken.values() if ids) > 1  # they really did share the work
    finally:
        engine.dispose()
