"""The stations registry: unknown and disabled stations dead-lettered, auto-registration,
and the replay that takes their events in once registered (both backends)."""

from __future__ import annotations

import json
import shlex
from datetime import UTC, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.progress import all_progress
from linetrace.central.derive.stations import (
    StationError,
    get_station,
    list_stations,
    register_station,
    set_enabled,
)
from linetrace.central.ingest.replay import replay_dead_letters
from linetrace.central.ingest.write_batch import BatchOptions, Inbound, write_batch
from linetrace.central.store import dead_letters, events
from tests.central.central_main import main
from tests.central.helpers import STATION, events_topic, make_event, register

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
NEWCOMER = "hcm1/L3/pack-7"
PACK = StationId.parse(STATION)


def inbound(seq: int, station: str = STATION) -> Inbound:
    return Inbound(events_topic(station), make_event(seq, station=station).to_payload(), NOW)


def stored_seqs(engine: Engine, station: str = STATION) -> list[int]:
    parsed = StationId.parse(station)
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(events.c.seq).where(
                events.c.site == parsed.site, events.c.station == parsed.station
            )
        )
        return sorted(rows.scalars())


def letters(engine: Engine) -> list[tuple[str, datetime | None]]:
    """(reason, replayed_at) of every dead letter, oldest first."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(dead_letters.c.reason, dead_letters.c.replayed_at).order_by(dead_letters.c.id)
        )
        return [(row.reason, row.replayed_at) for row in rows]


def test_register_updates_only_what_is_given(engine: Engine) -> None:
    with engine.begin() as connection:
        first = register_station(connection, PACK, gln="8938500000003", role="pack")
        again = register_station(connection, PACK, role="palletise")
    assert (again.gln, again.role, again.enabled) == ("8938500000003", "palletise", True)
    assert again.registered_at == first.registered_at
    with engine.begin() as connection:
        assert set_enabled(connection, PACK, False) is True
        assert set_enabled(connection, StationId.parse(NEWCOMER), False) is False
        station = get_station(connection, PACK)
        assert station is not None
        assert station.enabled is False
        assert [s.id for s in list_stations(connection)] == [PACK]


@pytest.mark.parametrize(
    ("gln", "role", "reason"),
    [
        ("893850000000", None, "is not a GLN: expected 13 digits"),
        ("8938500000004", None, "wrong GLN check digit"),
        (None, "Pack Line", "short lower-case word"),
    ],
)
def test_bad_gln_or_role_is_refused(
    engine: Engine, gln: str | None, role: str | None, reason: str
) -> None:
    with engine.begin() as connection, pytest.raises(StationError, match=reason):
        register_station(connection, PACK, gln=gln, role=role)
    with engine.connect() as connection:
        assert list_stations(connection) == []


def test_events_of_an_unknown_station_are_dead_lettered_whole(engine: Engine) -> None:
    sent = [inbound(1), inbound(2)]
    result = write_batch(engine, sent)
    assert (result.stored, len(result.dead_letters)) == (0, 2)
    assert stored_seqs(engine) == []
    (reason, _), _ = letters(engine)
    assert reason.startswith(f"unknown station {STATION}: register it")
    with engine.connect() as connection:
        payloads = connection.execute(
            sa.select(dead_letters.c.payload).order_by(dead_letters.c.id)
        ).scalars()
        assert list(payloads) == [message.payload for message in sent]


def test_registering_then_replaying_takes_the_events_in_once(
    engine: Engine, database_url: str
) -> None:
    first, second = inbound(1), inbound(2)
    write_batch(engine, [first, second, Inbound(events_topic(), b"junk", NOW)])
    assert replay_dead_letters(engine).replayed == 0  # still unknown: nothing changes
    assert len(letters(engine)) == 3
    register(database_url, STATION)
    write_batch(engine, [second])  # a resend arrived meanwhile
    report = replay_dead_letters(engine, reason_prefix="unknown station")
    assert (report.examined, report.stored, report.already_stored) == (2, 1, 1)
    assert stored_seqs(engine) == [1, 2]
    with engine.connect() as connection:
        assert all_progress(connection)[PACK].watermark == 2
    replayed = [reason for reason, at in letters(engine) if at is not None]
    assert len(replayed) == 2
    assert len(letters(engine)) == 3
    again = replay_dead_letters(engine)
    assert (again.examined, again.replayed, sum(again.still_refused.values())) == (1, 0, 1)
    assert "payload is not JSON" in next(iter(again.still_refused))


def test_a_disabled_station_is_refused_until_enabled(engine: Engine, database_url: str) -> None:
    register(database_url, STATION)
    with engine.begin() as connection:
        set_enabled(connection, PACK, False)
    result = write_batch(engine, [inbound(1)])
    assert result.stored == 0
    assert "is disabled" in result.dead_letters[0].reason
    result = write_batch(engine, [inbound(2)], BatchOptions(auto_register=True))
    assert result.stored == 0, "auto-registration must not re-enable a disabled station"
    register(database_url, STATION)
    assert replay_dead_letters(engine).stored == 2


def test_auto_registration_admits_a_new_station_on_its_first_event(engine: Engine) -> None:
    result = write_batch(engine, [inbound(1, NEWCOMER)], BatchOptions(auto_register=True))
    assert (result.stored, result.dead_letters) == (1, [])
    with engine.connect() as connection:
        station = get_station(connection, StationId.parse(NEWCOMER))
    assert station is not None
    assert station.registered_by == "auto"
    assert station.enabled


def test_cli_registers_lists_and_replays(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, args = _migrated_cli_database(tmp_path)
    from linetrace.central.store import open_engine

    engine = open_engine(url)
    try:
        write_batch(engine, [inbound(1), inbound(2)])
    finally:
        engine.dispose()
    capsys.readouterr()
    assert main(["central", "dead-letters", "list", *args]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [json.loads(item["payload"])["seq"] for item in listed] == [2, 1]
    assert main(["central", "station", "add", STATION, "--gln", "8938500000003", *args]) == 0
    added = json.loads(capsys.readouterr().out)
    assert (added["station"], added["gln"], added["registered_by"]) == (
        STATION,
        "8938500000003",
        "cli",
    )
    replay = ["central", "dead-letters", "replay", "--reason-prefix", "unknown station", *args]
    assert main(replay) == 0
    assert "2 dead letters examined: 2 stored" in capsys.readouterr().out
    assert main(["central", "station", "list", *args]) == 0
    (listed_station,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed_station["watermark"], listed_station["open_gaps"]) == (2, [])
    assert main(["central", "dead-letters", "list", *args]) == 0
    assert capsys.readouterr().out == ""  # replayed ones are left out ...
    assert main(["central", "dead-letters", "list", "--all", *args]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 2  # ... unless asked for
    assert main(["central", "station", "disable", STATION, *args]) == 0
    capsys.readouterr()
    assert main(["central", "station", "disable", "hcm1/L9/nowhere", *args]) == 1
    assert "hcm1/L9/nowhere is not registered" in capsys.readouterr().err
    assert main(["central", "station", "add", "bad/id", *args]) == 2
    assert "must be SITE/LINE/STATION" in capsys.readouterr().err
    assert main(["central", "station", "add", STATION, "--gln", "123", *args]) == 2
    assert "is not a GLN: expected 13 digits" in capsys.readouterr().err


def test_cli_enable_takes_a_disabled_station_back_and_replay_takes_in_what_it_refused(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url, args = _migrated_cli_database(tmp_path)
    assert main(["central", "station", "add", STATION, *args]) == 0
    assert main(["central", "station", "disable", STATION, *args]) == 0
    assert f"station enable {STATION}" in capsys.readouterr().out
    from linetrace.central.store import open_engine

    engine = open_engine(url)
    try:
        assert write_batch(engine, [inbound(1), inbound(2)]).stored == 0
        (reason, _), _ = letters(engine)
        assert reason.startswith(f"station {STATION} is disabled: enable it")
        assert main(["central", "station", "enable", STATION, *args]) == 0
        said = capsys.readouterr().out
        assert said.startswith(f"{STATION} enabled")
        printed = shlex.split(said.split("linetrace central ", 1)[1])
        assert printed[:3] == ["dead-letters", "replay", "--reason-prefix"]
        assert write_batch(engine, [inbound(3)]).stored == 1, "takes events again"
        assert stored_seqs(engine) == [3]
        assert main(["central", *printed, *args]) == 0  # the command it printed
        assert "2 dead letters examined: 2 stored" in capsys.readouterr().out
        assert stored_seqs(engine) == [1, 2, 3]
        with engine.connect() as connection:
            assert all_progress(connection)[PACK].watermark == 3
            station = get_station(connection, PACK)
        assert station is not None
        assert station.enabled
    finally:
        engine.dispose()
    assert main(["central", "station", "enable", "hcm1/L9/nowhere", *args]) == 1
    assert "hcm1/L9/nowhere is not registered" in capsys.readouterr().err
    assert main(["central", "station", "enable", "bad/id", *args]) == 2
    assert "must be SITE/LINE/STATION" in capsys.readouterr().err


def _migrated_cli_database(tmp_path: Path) -> tuple[str, list[str]]:
    """A migrated SQLite database and the CLI arguments that name its config."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    config = tmp_path / "central.toml"
    config.write_text(f'[database]\nurl = "{url}"\n')
    args = ["--config", str(config)]
    assert main(["central", "migrate", *args]) == 0
    return url, args
