"""Lot summaries kept at ingest time: the same rows as a recount from the stored events and
stays, whatever order and batching the events arrive in, resends and conflicting resends
included, through a dead-letter replay, with two writers at once, after a failed
derivation and its rebuild, and after the migration that fills them for events stored
before it."""

from __future__ import annotations

import json
import random
import secrets
import threading
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import psycopg
import pytest
import sqlalchemy as sa
from alembic import command
from sqlalchemy.engine import Connection, Engine, make_url

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.containers import record_packs
from linetrace.central.derive.lot_summaries import rebuild_lot_summaries
from linetrace.central.derive.on_stored import DERIVATION_ALARM, on_events_stored
from linetrace.central.ingest.replay import replay_dead_letters
from linetrace.central.ingest.write_batch import BatchOptions, Inbound, write_batch
from linetrace.central.query.lot_trace import trace_lot
from linetrace.central.store import event_row, insert_events, open_engine, upgrade
from linetrace.central.store.migrate import alembic_config
from linetrace.central.store.trace_tables import (
    lot_containers,
    lot_station_summaries,
    lot_summaries,
)
from tests.central.central_main import main
from tests.central.helpers import GTIN, HCM, STATION, events_topic, make_event, register
from tests.central.running import write_config
from tests.central.trace_helpers import (
    LOT,
    OTHER_GTIN,
    after,
    item,
    open_batch,
    pack,
    sscc,
    store,
)

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
CHECK_2 = "hcm1/L1/check-2"
CASE_A, CASE_B = sscc(11), sscc(12)
SUMMARY_TABLES = (lot_summaries, lot_station_summaries, lot_containers)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def unit(number: int, gtin: str = GTIN) -> dict[str, str]:
    return {"01": gtin, "21": f"{number:06d}", "10": LOT}


def plant() -> list[ScanEvent]:
    """Reads at two stations (repeats, a second GTIN, odd codes), packs, a no-read."""
    return [
        *(item(n, f"{n:06d}", at(n)) for n in range(1, 7)),
        item(7, "000001", at(7)),  # item 1 again, same station
        *(item(n, f"{n - 10:06d}", at(n), station=CHECK_2) for n in range(11, 15)),
        item(15, "000009", at(15), gtin=OTHER_GTIN),
        item(16, "000002", at(16), lot="L9999"),  # another lot, same item
        make_event(17, observed_at=at(17), text=f"01{GTIN}10{LOT}", gs1={"01": GTIN, "10": LOT}),
        make_event(18, observed_at=at(18), text="L2611-X1", gs1={"10": LOT, "21": "X1"}),
        make_event(19, observed_at=at(19), kind="noread"),
        pack(1, CASE_A, [unit(1), unit(2), unit(3)], at(30)),
        pack(2, CASE_B, [unit(4), unit(9, OTHER_GTIN)], at(31)),
        pack(3, CASE_B, [unit(2)], at(32)),  # item 2 moved: CASE_A keeps it in its count
        pack(4, CASE_A, [unit(5)], at(2)),  # late: packed before it was read
    ]


# What the plant's events add up to, per lot and GTIN ('' for the reads without a GTIN).
PLANT_LOTS = [(LOT, "", 1), (LOT, GTIN, 6), (LOT, OTHER_GTIN, 1), ("L9999", GTIN, 1)]


def ingest(connection: Connection, scans: Sequence[ScanEvent]) -> None:
    """The ingest's steps in the caller's transaction: the idempotent insert, then the
    derivations of the new events (the same hook the batch write calls)."""
    received = datetime.now(UTC)
    rows = [event_row(s, json.loads(s.to_payload()), received) for s in scans]
    new = insert_events(connection, rows)
    on_events_stored(connection, [row for row in rows if row["event_id"] in new])


def messages(scans: Sequence[ScanEvent]) -> list[Inbound]:
    received = datetime.now(UTC)
    return [Inbound(events_topic(str(s.station_id)), s.to_payload(), received) for s in scans]


def summaries(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as connection:
        return {
            table.name: sorted(tuple(row) for row in connection.execute(sa.select(table)))
            for table in SUMMARY_TABLES
        }


def rebuilt(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    """The summaries recounted from scratch, lot by lot and all at once (both must agree)."""
    with engine.begin() as connection:
        rebuild_lot_summaries(connection, [LOT, "L9999"])
    by_lot = summaries(engine)
    with engine.begin() as connection:
        rebuild_lot_summaries(connection)
    assert summaries(engine) == by_lot
    return by_lot


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_summaries_match_a_recount_in_any_order_with_resends(engine: Engine, seed: int) -> None:
    scans = plant()
    random.Random(seed).shuffle(scans)
    batches = [scans[i : i + 4] for i in range(0, len(scans), 4)]
    # A conflicting resend: the first event's id with another item and lot; the first stays.
    first = next(scan for scan in scans if scan.kind.value == "read").model_dump()
    altered = ScanEvent.model_validate(
        {**first, "text": f"01{GTIN}10L777\x1d21999999",
         "gs1": {"01": GTIN, "10": "L777", "21": "999999"}, "kind": "read"}
    )  # fmt: skip
    for batch in [*batches, batches[0], scans[5:9], [altered]]:  # a batch and some resent
        result = store(engine, *batch)
        assert result.dead_letters == []
    assert result.conflicts == 1
    kept = summaries(engine)
    assert kept == rebuilt(engine)
    assert sorted(kept["lot_summaries"]) == PLANT_LOTS
    with engine.connect() as connection:
        trace = trace_lot(connection, LOT)
    assert trace.items.count == 7
    assert trace.gtins == [GTIN, OTHER_GTIN]  # not the one without a GTIN
    per_station = [(s.station, s.gtin, s.reads, s.items) for s in trace.stations]
    assert per_station == [
        (CHECK_2, GTIN, 4, 4),
        (STATION, None, 1, 1),
        (STATION, GTIN, 8, 6),
        (STATION, OTHER_GTIN, 1, 1),
    ]
    assert (trace.first_seen, trace.last_seen) == (at(1), at(18))
    assert {c.code: c.items for c in trace.containers} == {f"(00){CASE_A}": 4,
                                                            f"(00){CASE_B}": 3}  # fmt: skip


def test_replayed_dead_letters_are_summarised_once(database_url: str) -> None:
    """Reads refused while their station was unknown count once they are replayed."""
    engine = open_engine(database_url)
    try:
        scans = [item(n, f"{n:06d}", at(n), station=CHECK_2) for n in range(1, 4)]
        refused = write_batch(engine, messages(scans))
        assert len(refused.dead_letters) == 3
        assert summaries(engine)["lot_summaries"] == []
        register(database_url, CHECK_2)
        assert replay_dead_letters(engine).stored == 3
        assert replay_dead_letters(engine).examined == 0  # replayed once only
        store(engine, *scans)  # and the edge's resend of the same events adds nothing
        kept = summaries(engine)
        assert kept["lot_summaries"] == [(LOT, GTIN, 3)]
        assert [row[5:7] for row in kept["lot_station_summaries"]] == [(3, 3)]
        assert kept == rebuilt(engine)
    finally:
        engine.dispose()


def test_a_failed_derivation_names_the_rebuild_and_the_rebuild_restores(
    sqlite_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_engine(sqlite_url)
    odd = "L9&X"  # a lot that needs quoting in a shell command
    try:
        batch = open_batch(engine)
        store(engine, item(1, "000001", after(batch, 1)))
        with engine.begin() as connection:  # the table the checks go to is gone
            connection.execute(sa.text("ALTER TABLE event_checks RENAME TO event_checks_away"))
        result = store(
            engine, item(2, "000002", after(batch, 2)), item(3, "000001", after(batch, 3), lot=odd)
        )
        assert result.stored == 2
        with engine.begin() as connection:
            connection.execute(sa.text("ALTER TABLE event_checks_away RENAME TO event_checks"))
            alarms = list_alarms(connection, kind=DERIVATION_ALARM)
        assert [a.message.rsplit("; ", 1)[-1] for a in alarms] == [
            f"once fixed, run: linetrace central lot-summaries rebuild {LOT} '{odd}'"
        ]
        assert summaries(engine)["lot_summaries"] == [(LOT, GTIN, 1)]  # item 2 missing
        config = str(write_config(tmp_path / "central.toml", sqlite_url))
        verb = ["central", "lot-summaries", "rebuild"]
        assert main([*verb, LOT, odd, "--config", config]) == 0
        assert f"rebuilt the summaries of {LOT}, {odd}" in capsys.readouterr().out
        assert summaries(engine)["lot_summaries"] == [(LOT, GTIN, 2), (odd, GTIN, 1)]
        store(engine, item(4, "000002", after(batch, 4)), item(5, "000003", after(batch, 5)))
        kept = summaries(engine)  # and on as usual
        assert kept["lot_summaries"] == [(LOT, GTIN, 3), (odd, GTIN, 1)]
        with engine.begin() as connection:
            for table in SUMMARY_TABLES:
                connection.execute(table.delete())
        assert main([*verb, "--all", "--config", config]) == 0
        assert summaries(engine) == kept
    finally:
        engine.dispose()
    with pytest.raises(SystemExit):  # lots or --all, one of the two
        main([*verb, "--config", config])


def test_rebuild_restores_lost_summaries(engine: Engine) -> None:
    with engine.begin() as connection:
        ingest(connection, plant())
    kept = summaries(engine)
    with engine.begin() as connection:
        for table in SUMMARY_TABLES:
            connection.execute(table.delete())
    assert summaries(engine) == {table.name: [] for table in SUMMARY_TABLES}
    assert rebuilt(engine) == kept


@pytest.mark.postgres
def test_two_writers_of_one_lot_count_each_item_once(postgres_url: str) -> None:
    """The second transaction waits for the first, then sees its reads: no item twice."""
    first, second = open_engine(postgres_url), open_engine(postgres_url)
    finished = threading.Event()

    def write_second() -> None:
        with second.begin() as connection:
            ingest(connection, [item(3, "000001", at(3), station=CHECK_2),
                                item(4, "000002", at(4))])  # fmt: skip
        finished.set()

    try:
        with first.begin() as connection:
            ingest(connection, [item(1, "000001", at(1)), item(2, "000002", at(2))])
            writer = threading.Thread(target=write_second)
            writer.start()
            assert not finished.wait(0.5), "the second writer did not wait for the first"
        writer.join(10)
        assert finished.is_set()
        kept = summaries(first)
        assert kept["lot_summaries"] == [(LOT, GTIN, 2)]
        stations = [(row[4], row[5], row[6]) for row in kept["lot_station_summaries"]]
        assert stations == [("check-2", 1, 1), ("pack-1", 3, 2)]
        assert kept == rebuilt(first)
    finally:
        first.dispose()
        second.dispose()


@pytest.mark.postgres
def test_concurrent_batch_writers_keep_exact_counts(postgres_url: str) -> None:
    """Two writers, each on its own connection, store overlapping reads of two lots in
    small batches at once (each item read at both stations, in both orders): the kept
    counts are those of a recount, every item once."""
    serials = [f"{n:06d}" for n in range(1, 61)]
    lots = [LOT, "L2612"]

    def reads(station: str, order: Sequence[str], first_seq: int) -> list[ScanEvent]:
        return [
            item(first_seq + i, serial, at(i), station=station, lot=lots[int(serial) % 2])
            for i, serial in enumerate(order)
        ]

    plans = [
        reads(STATION, serials, 1) + reads(CHECK_2, serials[::-1], 1),
        reads(CHECK_2, serials, 1001) + reads(STATION, serials[::-1], 1001),
    ]
    failures: list[BaseException] = []

    def write(scans: list[ScanEvent]) -> None:
        engine = open_engine(postgres_url)
        try:
            for start in range(0, len(scans), 6):
                write_batch(engine, messages(scans[start : start + 6]),
                            BatchOptions(auto_register=True))  # fmt: skip
        except BaseException as exc:  # noqa: BLE001  (reported by the test below)
            failures.append(exc)
        finally:
            engine.dispose()

    writers = [threading.Thread(target=write, args=(plan,)) for plan in plans]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(60)
    assert failures == []
    assert not any(writer.is_alive() for writer in writers)
    engine = open_engine(postgres_url)
    try:
        kept = summaries(engine)
        assert kept["lot_summaries"] == [(LOT, GTIN, 30), ("L2612", GTIN, 30)]
        assert [row[5:7] for row in kept["lot_station_summaries"]] == [(60, 30)] * 4
        with engine.begin() as connection:
            rebuild_lot_summaries(connection, lots)
        assert summaries(engine) == kept
        with engine.connect() as connection:
            alarms = list_alarms(connection, kind=DERIVATION_ALARM)
        assert alarms == []
    finally:
        engine.dispose()


# --- the migration -------------------------------------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database of its own, not yet migrated."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'fresh.db'}"
        return
    session_url = make_url(request.getfixturevalue("postgres_url"))
    name = f"linetrace_test_{secrets.token_hex(6)}"
    admin = session_url.set(drivername="postgresql").render_as_string(hide_password=False)
    with psycopg.connect(admin, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{name}"')
        try:
            yield session_url.set(database=name).render_as_string(hide_password=False)
        finally:
            connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def test_the_migration_fills_the_summaries_of_stored_events(fresh_url: str) -> None:
    upgrade(fresh_url, "0003")
    engine = open_engine(fresh_url)
    try:
        with engine.begin() as connection:
            received = datetime.now(UTC)
            rows = [event_row(s, json.loads(s.to_payload()), received) for s in plant()]
            insert_events(connection, rows)
            record_packs(connection, rows)
        upgrade(fresh_url)
        filled = summaries(engine)
        assert sorted(filled["lot_summaries"]) == PLANT_LOTS
        assert len(filled["lot_station_summaries"]) == 5
        assert len(filled["lot_containers"]) == 3
        assert filled == rebuilt(engine)
        with engine.begin() as connection:  # and back, and up again
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "0003")
        assert upgrade(fresh_url) is not None
        assert summaries(engine) == filled
    finally:
        engine.dispose()
