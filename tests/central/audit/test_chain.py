"""The audit chain on SQLite and PostgreSQL: appended in the caller's transaction, proved
intact, broken at the right record when tampered with, and never forked by appenders
running at once."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.audit import actor_of, cli_actor, record
from linetrace.central.audit.listing import AuditQuery, find_records, records_from
from linetrace.central.audit.verify import verify_chain
from linetrace.central.store import open_engine
from linetrace.central.store.audit_tables import audit_head, audit_log


def append(engine: Engine, count: int, actor: str = "ana") -> None:
    for n in range(count):
        with engine.begin() as connection:
            record(
                connection,
                actor=actor,
                action="batch.start",
                target=f"batch/{n}",
                details={"lot": f"L{n}", "when": datetime(2026, 1, 1, tzinfo=UTC), "n": 1.5},
            )


def verdict(engine: Engine) -> str:
    with engine.connect() as connection:
        return verify_chain(connection).message()


def test_an_untouched_chain_is_intact(engine: Engine) -> None:
    assert verdict(engine) == "intact: 0 records"
    append(engine, 5)
    assert verdict(engine) == "intact: 5 records"
    with engine.connect() as connection:
        stored = list(records_from(connection, chunk=2))
    assert [r.id for r in stored] == [1, 2, 3, 4, 5]
    assert all(b.prev_hash == a.hash for a, b in itertools.pairwise(stored))
    assert stored[0].details == {"lot": "L0", "when": "2026-01-01 00:00:00+00:00", "n": 1.5}


def test_a_record_rolls_back_with_the_change_it_records(engine: Engine) -> None:
    append(engine, 1)

    def failing_change() -> None:
        with engine.begin() as connection:
            record(connection, actor="ana", action="batch.close", target="batch/1")
            raise RuntimeError("the change failed")

    with pytest.raises(RuntimeError):
        failing_change()
    append(engine, 1)
    assert verdict(engine) == "intact: 2 records"


@pytest.mark.parametrize(
    ("tamper", "says"),
    [
        (
            sa.update(audit_log).where(audit_log.c.id == 3).values(actor="mallory"),
            "record 3: its contents were changed",
        ),
        (
            sa.update(audit_log).where(audit_log.c.id == 3).values(details={"lot": "X"}),
            "record 3: its contents were changed",
        ),
        (sa.delete(audit_log).where(audit_log.c.id == 3), "record 4: records 3 to 3 are missing"),
        (
            sa.delete(audit_log).where(audit_log.c.id >= 4),
            "record 4: the chain ends at record 3 but its head says 5",
        ),
        (
            sa.update(audit_log).where(audit_log.c.id == 2).values(prev_hash="0" * 64),
            "record 2: prev_hash",
        ),
    ],
)
def test_tampering_names_the_first_broken_record(
    engine: Engine, tamper: sa.Executable, says: str
) -> None:
    append(engine, 5)
    with engine.begin() as connection:
        connection.execute(tamper)
    assert says in verdict(engine)


def test_a_rewritten_record_with_a_fresh_hash_breaks_the_next(engine: Engine) -> None:
    """Recomputing a changed record's hash does not help: the next one names the old hash."""
    from linetrace.central.audit.chain import record_hash

    append(engine, 3)
    with engine.begin() as connection:
        row = connection.execute(sa.select(audit_log).where(audit_log.c.id == 2)).one()
        forged = record_hash(
            2, row.at, "mallory", row.action, row.target, row.details, row.prev_hash
        )
        connection.execute(
            sa.update(audit_log).where(audit_log.c.id == 2).values(actor="mallory", hash=forged)
        )
    assert "broken at record 3: prev_hash" in verdict(engine)


def test_concurrent_appenders_never_fork_the_chain(database_url: str) -> None:
    """Threads with engines of their own: separate connections, as two replicas would be."""
    engines = [open_engine(database_url) for _ in range(4)]
    errors: list[BaseException] = []

    def work(engine: Engine, name: str) -> None:
        try:
            append(engine, 10, actor=name)
        except BaseException as exc:  # noqa: BLE001  (reported by the assertion below)
            errors.append(exc)

    threads = [
        threading.Thread(target=work, args=(engine, f"user{n}")) for n, engine in enumerate(engines)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert errors == []
        assert verdict(engines[0]) == "intact: 40 records"
        with engines[0].connect() as connection:
            head = connection.execute(sa.select(audit_head.c.last_id)).scalar_one()
        assert head == 40
    finally:
        for engine in engines:
            engine.dispose()


def test_listing_filters_and_counts(engine: Engine) -> None:
    append(engine, 3, actor="ana")
    append(engine, 2, actor="binh")
    with engine.begin() as connection:
        record(connection, actor="binh", action="alarm.ack", target="alarm/7")
    with engine.connect() as connection:
        page = find_records(connection, AuditQuery(actor="binh", limit=2))
        assert page.total == 3
        assert [r.action for r in page.records] == ["alarm.ack", "batch.start"]
        assert find_records(connection, AuditQuery(action="batch.")).total == 5
        assert find_records(connection, AuditQuery(action="batch")).total == 0
        later = datetime.now(UTC) + timedelta(minutes=1)
        assert find_records(connection, AuditQuery(since=later)).total == 0
        second = find_records(connection, AuditQuery(limit=4, offset=4))
        assert [r.id for r in second.records] == [2, 1]


def test_actors() -> None:
    assert (
        actor_of(SimpleNamespace(state=SimpleNamespace(principal=SimpleNamespace(name="ana"))))
        == "ana"
    )
    assert actor_of(SimpleNamespace(state=SimpleNamespace())) == "anonymous"
    assert cli_actor().startswith("cli:")
