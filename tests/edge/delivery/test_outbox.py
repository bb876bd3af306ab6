"""The outbox keeps every event and a gapless sequence through reopen, removal and SIGKILL."""

from __future__ import annotations

import signal
import sqlite3
import subprocess
import sys
import textwrap
import threading
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import ValidationError

from linetrace.broker.contract.messages import ChildRead, EventKind, parse_event
from linetrace.broker.contract.topics import StationId
from linetrace.edge.delivery.outbox import Outbox, OutboxError, OutboxFull
from linetrace.edge.line.passage import Passage
from tests.private_files import UMASKS, mode, sqlite_files, umask

STATION = StationId("hcm1", "L1", "pack-1")
ICT = timezone(timedelta(hours=7))


def passage(number: int) -> Passage:
    seen = datetime(2026, 3, 1, 8, 0, tzinfo=ICT) + timedelta(seconds=number)
    return Passage(
        kind=EventKind.READ,
        first_seen=seen,
        last_seen=seen + timedelta(milliseconds=200),
        frames=4,
        symbology="DataMatrix",
        text=f"0108938500000018215{number:06d}",
        gs1={"01": "08938500000018", "21": f"5{number:06d}"},
    )


def test_seq_is_gapless_across_reopen(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, STATION) as outbox:
        first = [outbox.append(passage(n)).seq for n in range(3)]
    with Outbox(path, STATION) as outbox:
        second = [outbox.append(passage(n)).seq for n in range(3, 5)]
        stored = outbox.pending(100)
        assert outbox.depth() == 5
        assert outbox.last_seq == 5
    assert first + second == [1, 2, 3, 4, 5]
    assert [seq for seq, _ in stored] == [1, 2, 3, 4, 5]
    events = [parse_event(payload) for _, payload in stored]
    assert [event.seq for event in events] == [1, 2, 3, 4, 5]
    assert {event.station_id for event in events} == {STATION}
    assert events[4].text == passage(4).text
    assert len({event.event_id for event in events}) == 5


def test_removing_confirmed_events_never_resets_the_sequence(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, STATION) as outbox:
        for n in range(4):
            outbox.append(passage(n))
        assert outbox.remove([2, 3]) == 2
        assert outbox.remove([2, 3, 99]) == 0
        assert [seq for seq, _ in outbox.pending(10)] == [1, 4]
        assert outbox.remove([1, 4]) == 2
        assert outbox.depth() == 0
        assert outbox.oldest_age is None
    with Outbox(path, STATION) as outbox:
        assert outbox.depth() == 0
        assert outbox.append(passage(9)).seq == 5


def test_pending_pages_in_seq_order(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        for n in range(7):
            outbox.append(passage(n))
        assert [seq for seq, _ in outbox.pending(3)] == [1, 2, 3]
        assert [seq for seq, _ in outbox.pending(3, after=3)] == [4, 5, 6]
        assert [seq for seq, _ in outbox.pending(3, after=6)] == [7]
        assert outbox.pending(3, after=7) == []


def test_pending_stops_at_through_and_fetch_skips_what_is_gone(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        for n in range(6):
            outbox.append(passage(n))
        assert [seq for seq, _ in outbox.pending(10, after=1, through=4)] == [2, 3, 4]
        outbox.remove([3])
        assert [seq for seq, _ in outbox.fetch([5, 3, 1, 5])] == [1, 5]
        assert [seq for seq, _ in outbox.fetch(range(1, 1200))] == [1, 2, 4, 5, 6]
        assert outbox.fetch([]) == []


def test_a_watermark_removes_everything_up_to_it_at_once(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, STATION, capacity=10) as outbox:
        for n in range(6):
            outbox.append(passage(n))
        assert outbox.fill == pytest.approx(0.6)
        assert outbox.remove_through(4) == 4
        assert outbox.remove_through(4) == 0
        assert [seq for seq, _ in outbox.pending(10)] == [5, 6]
        assert outbox.depth() == 2
        assert outbox.fill == pytest.approx(0.2)
    with Outbox(path, STATION) as outbox:
        assert outbox.depth() == 2
        assert outbox.fill is None
        assert outbox.append(passage(7)).seq == 7


def test_a_pack_event_carries_its_children(tmp_path: Path) -> None:
    child = ChildRead(symbology="DataMatrix", symbology_id="]d2", text="x", gs1={"01": "1" * 14})
    parent = replace(passage(1), kind=EventKind.PACK, children=(child, child))
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        stored = outbox.append(parent)
        [(_, payload)] = outbox.pending(1)
    assert stored.children == [child, child]
    assert parse_event(payload).children == [child, child]


def test_oldest_age_follows_the_oldest_waiting_event(tmp_path: Path) -> None:
    now = [1000.0]
    with Outbox(tmp_path / "outbox.db", STATION, clock=lambda: now[0]) as outbox:
        outbox.append(passage(1))
        now[0] = 1010.0
        outbox.append(passage(2))
        now[0] = 1025.0
        assert outbox.oldest_age == pytest.approx(25.0)
        outbox.remove([1])
        assert outbox.oldest_age == pytest.approx(15.0)


def test_stations_sharing_a_file_keep_their_own_sequences(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    other = StationId("hcm1", "L2", "pack-1")
    with Outbox(path, STATION) as mine, Outbox(path, other) as theirs:
        assert [mine.append(passage(n)).seq for n in range(3)] == [1, 2, 3]
        assert theirs.append(passage(7)).seq == 1
        assert theirs.depth() == 1
        assert [parse_event(p).station_id for _, p in theirs.pending(10)] == [other]


def test_full_outbox_refuses_without_using_a_seq(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", STATION, capacity=2) as outbox:
        outbox.append(passage(1))
        outbox.append(passage(2))
        with pytest.raises(OutboxFull, match="capacity 2"):
            outbox.append(passage(3))
        assert outbox.depth() == 2
        outbox.remove([1])
        assert outbox.append(passage(3)).seq == 3


def test_a_passage_that_makes_no_valid_event_uses_no_seq(tmp_path: Path) -> None:
    broken = Passage(
        kind=EventKind.READ,
        first_seen=datetime(2026, 3, 1, tzinfo=ICT),
        last_seen=datetime(2026, 3, 1, tzinfo=ICT),
        frames=1,
        text=None,
    )
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        with pytest.raises(ValidationError, match="needs the decoded text"):
            outbox.append(broken)
        assert outbox.depth() == 0
        assert outbox.append(passage(1)).seq == 1


def test_concurrent_appends_stay_gapless(tmp_path: Path) -> None:
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:

        def append_some(offset: int) -> None:
            for n in range(10):
                outbox.append(passage(offset + n))

        workers = [threading.Thread(target=append_some, args=(k * 100,)) for k in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        stored = outbox.pending(100)
    assert [seq for seq, _ in stored] == list(range(1, 41))
    assert len({parse_event(payload).event_id for _, payload in stored}) == 40


def test_a_file_that_is_not_sqlite_is_refused_by_name(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    path.write_bytes(b"this is a text file, not a database" * 100)
    with pytest.raises(OutboxError, match=r"outbox .*outbox\.db"):
        Outbox(path, STATION)


def test_a_newer_layout_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    Outbox(path, STATION).close()
    with sqlite3.connect(path) as db:
        db.execute("PRAGMA user_version = 99")
    db.close()
    with pytest.raises(OutboxError, match="newer linetrace"):
        Outbox(path, STATION)


CHILD = textwrap.dedent(
    """
    import sys
    from datetime import datetime, timezone
    from pathlib import Path
    from linetrace.broker.contract.messages import EventKind
    from linetrace.broker.contract.topics import StationId
    from linetrace.edge.line.passage import Passage
    from linetrace.edge.delivery.outbox import Outbox

    outbox = Outbox(Path(sys.argv[1]), StationId.parse(sys.argv[2]))
    now = datetime.now(timezone.utc)
    n = 0
    while True:
        n += 1
        event = outbox.append(
            Passage(kind=EventKind.READ, first_seen=now, last_seen=now, frames=1, text=f"item-{n}")
        )
        print(event.seq, event.event_id, flush=True)
    """
)


def test_every_appended_event_survives_sigkill(tmp_path: Path) -> None:
    path = tmp_path / "outbox.db"
    with Outbox(path, STATION) as outbox:
        outbox.append(passage(0))
        outbox.remove([1])
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(path), str(STATION)],
        stdout=subprocess.PIPE,
        text=True,
    )
    assert child.stdout is not None
    reported: dict[int, str] = {}
    with child.stdout:
        for line in child.stdout:
            seq, event_id = line.split()
            reported[int(seq)] = event_id
            if len(reported) == 50:
                child.send_signal(signal.SIGKILL)
                break
    assert child.wait(timeout=10) == -signal.SIGKILL

    with Outbox(path, STATION) as outbox:
        stored = {seq: parse_event(payload) for seq, payload in outbox.pending(10_000)}
        last = outbox.last_seq
        following = outbox.append(passage(1)).seq
    assert {seq: str(event.event_id) for seq, event in stored.items() if seq in reported} == (
        reported
    )
    assert sorted(stored) == list(range(2, last + 1))
    assert following == last + 1


@pytest.mark.parametrize("mask", UMASKS, ids=oct)
def test_the_outbox_and_its_wal_are_0600_in_a_0700_folder(tmp_path: Path, mask: int) -> None:
    path = tmp_path / "state" / "outbox.db"
    with umask(mask), Outbox(path, STATION) as outbox:
        outbox.append(passage(1))
        assert sqlite_files(path) == {
            "outbox.db": 0o600,
            "outbox.db-wal": 0o600,
            "outbox.db-shm": 0o600,
        }
    assert mode(tmp_path / "state") == 0o700
