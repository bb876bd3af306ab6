"""One batch of received messages into the store, without a broker."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.ingest.write_batch import Inbound, StoreUnavailable, write_batch
from linetrace.central.store import dead_letters, events, open_engine
from linetrace.ports import free_port
from tests.central.helpers import STATION, events_topic, make_event, register

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    """The database, with the helpers' station registered."""
    register(database_url, STATION)
    return engine


def inbound(payload: bytes, topic: str | None = None) -> Inbound:
    return Inbound(topic or events_topic(), payload, NOW)


def stored_seqs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(events.c.seq)).scalars())


def letters(engine: Engine) -> list[tuple[str, str, bytes]]:
    with engine.connect() as connection:
        rows = connection.execute(sa.select(dead_letters).order_by(dead_letters.c.id)).all()
    return [(row.topic, row.reason, row.payload) for row in rows]


def test_good_events_are_stored_and_bad_ones_dead_lettered_in_one_batch(engine: Engine) -> None:
    first, second = make_event(1), make_event(2)
    wrong_station = make_event(3, station="hcm1/L1/pack-2")
    batch = [
        inbound(first.to_payload()),
        inbound(b"{broken"),
        inbound(first.to_payload()),  # a resend within the same batch
        inbound(wrong_station.to_payload()),  # published on pack-1's topic
        inbound(second.to_payload()),
    ]
    result = write_batch(engine, batch)
    assert result.new_event_ids == {first.event_id, second.event_id}
    assert (result.stored, result.duplicates, len(result.dead_letters)) == (2, 1, 2)
    assert stored_seqs(engine) == [1, 2]
    recorded = letters(engine)
    assert [payload for _, _, payload in recorded] == [b"{broken", wrong_station.to_payload()]
    assert "payload is not JSON" in recorded[0][1]
    assert "names station hcm1/L1/pack-2" in recorded[1][1]


def test_a_resent_batch_stores_nothing_twice(engine: Engine) -> None:
    batch = [inbound(make_event(n).to_payload()) for n in range(1, 6)]
    assert write_batch(engine, batch).stored == 5
    again = write_batch(engine, batch)
    assert (again.stored, again.duplicates) == (0, 5)
    assert stored_seqs(engine) == [1, 2, 3, 4, 5]


@pytest.fixture
def refuses_poison(engine: Engine) -> Iterator[None]:
    """A trigger that makes the database itself refuse any event whose text is 'POISON'."""
    if engine.dialect.name == "sqlite":
        create = [
            (
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON events WHEN NEW.text = 'POISON' "
                "BEGIN SELECT RAISE(ABORT, 'poison refused by trigger'); END"
            )
        ]
        drop = ["DROP TRIGGER refuse_poison"]
    else:
        create = [
            (
                "CREATE FUNCTION refuse_poison() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
                "IF NEW.text = 'POISON' THEN RAISE EXCEPTION 'poison refused by trigger'; "
                "END IF; RETURN NEW; END $$"
            ),
            (
                "CREATE TRIGGER refuse_poison BEFORE INSERT ON events FOR EACH ROW "
                "EXECUTE FUNCTION refuse_poison()"
            ),
        ]
        drop = ["DROP TRIGGER refuse_poison ON events", "DROP FUNCTION refuse_poison()"]
    with engine.begin() as connection:
        for statement in create:
            connection.exec_driver_sql(statement)
    try:
        yield
    finally:
        with engine.begin() as connection:
            for statement in drop:
                connection.exec_driver_sql(statement)


@pytest.mark.usefixtures("refuses_poison")
def test_a_row_the_database_refuses_is_dead_lettered_alone(engine: Engine) -> None:
    poison = make_event(2, text="POISON", gs1=None)
    batch = [inbound(make_event(n).to_payload()) for n in (1, 3)]
    batch.insert(1, inbound(poison.to_payload()))
    batch.append(inbound(b"[]"))
    result = write_batch(engine, batch)
    assert (result.stored, result.duplicates, len(result.dead_letters)) == (2, 0, 2)
    assert stored_seqs(engine) == [1, 3]
    reasons = {reason for _, reason, _ in letters(engine)}
    assert any("poison refused by trigger" in r for r in reasons), reasons
    assert any("not a JSON object" in r for r in reasons), reasons
    assert [p for _, _, p in letters(engine) if p != b"[]"] == [poison.to_payload()]


def test_an_unreachable_database_raises_and_writes_nothing(tmp_path: Path) -> None:
    closed = open_engine(f"postgresql+psycopg://postgres@127.0.0.1:{free_port()}/none")
    not_a_file = open_engine(f"sqlite:///{tmp_path}")  # a folder cannot be opened as a database
    try:
        for engine in (closed, not_a_file):
            with pytest.raises(StoreUnavailable):
                write_batch(engine, [inbound(make_event(1).to_payload()), inbound(b"x")])
    finally:
        closed.dispose()
        not_a_file.dispose()


def test_a_batch_of_only_dead_letters_is_recorded(engine: Engine) -> None:
    payload = json.dumps({"schema_version": "9.0"}).encode()
    result = write_batch(engine, [inbound(payload)])
    assert (result.stored, len(result.dead_letters)) == (0, 1)
    assert "unsupported major version" in letters(engine)[0][1]
