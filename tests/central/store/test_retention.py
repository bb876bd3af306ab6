"""Retention: which lots are due, and archiving them (export, verify, remove) without
touching what a lot not yet due still needs; on SQLite and PostgreSQL, with our own "today"."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.cli.archive import ArchiveRefused, _check_epcis, archive_lot, file_stem
from linetrace.central.query.retention import add_months, lot_retention, lots_retention
from linetrace.central.relay.epcis.lot_export import write_csv, write_epcis
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import batches, containment
from linetrace.errors import NotFound
from tests.central.helpers import GTIN
from tests.central.trace_helpers import after, close, item, open_batch, pack, sscc, store

DUE, KEPT, NO_EXPIRY = "LDUE", "LKEEP", "LNOEXP"
TODAY = datetime.now(UTC).date()
DUE_EXPIRY = TODAY + timedelta(days=30)
KEPT_EXPIRY = TODAY + timedelta(days=5 * 365)
# The day after DUE's 12 months past expiry: DUE may go, KEPT and NO_EXPIRY may not.
DAY_DUE = add_months(DUE_EXPIRY, 12) + timedelta(days=1)


@pytest.fixture
def lots(engine: Engine) -> Engine:
    """Three lots on one line; case 1 holds items of DUE and KEPT, case 2 only DUE's."""
    due = open_batch(engine, lot=DUE, expiry=DUE_EXPIRY)
    store(
        engine,
        item(1, "000001", after(due, 1), lot=DUE),
        item(2, "000002", after(due, 2), lot=DUE),
        # No AI 10: DUE's by its batch window (open from started_at until closed just after).
        item(3, "000003", after(due, 0), lot=None),
        pack(1, sscc(2), [{"01": GTIN, "21": "000002", "10": DUE}], after(due, 4)),
    )
    close(engine, due)
    kept = open_batch(engine, lot=KEPT, expiry=KEPT_EXPIRY)
    store(
        engine,
        item(4, "000004", after(kept, 1), lot=KEPT),
        pack(
            2,
            sscc(1),
            [{"01": GTIN, "21": "000001", "10": DUE}, {"01": GTIN, "21": "000004", "10": KEPT}],
            after(kept, 2),
        ),
    )
    close(engine, kept)
    no_expiry = open_batch(engine, lot=NO_EXPIRY)
    store(engine, item(5, "000005", after(no_expiry, 1), lot=NO_EXPIRY))
    close(engine, no_expiry)
    return engine


def count(engine: Engine, table: sa.Table, *where: sa.ColumnElement[bool]) -> int:
    with engine.connect() as connection:
        return int(
            connection.execute(
                sa.select(sa.func.count()).select_from(table).where(*where)
            ).scalar_one()
        )


def test_months_are_calendar_months() -> None:
    assert add_months(date(2025, 3, 15), 12) == date(2026, 3, 15)
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2025, 1, 31), 1) == date(2025, 2, 28)
    assert add_months(date(2025, 11, 30), 60) == date(2030, 11, 30)


def test_the_report_says_which_lots_are_due_and_why(lots: Engine) -> None:
    with lots.connect() as connection:
        found = {r.lot: r for r in lots_retention(connection)}
    assert set(found) == {DUE, KEPT, NO_EXPIRY}
    due, kept, no_expiry = found[DUE], found[KEPT], found[NO_EXPIRY]
    assert due.expiry == DUE_EXPIRY
    assert due.keep_until == add_months(DUE_EXPIRY, 12)
    assert due.may_archive_on == DAY_DUE
    assert "12 months after its expiry" in due.reason
    assert not due.due(DAY_DUE - timedelta(days=1))
    assert due.due(DAY_DUE)
    assert not kept.due(DAY_DUE)
    assert kept.keep_until == add_months(KEPT_EXPIRY, 12)
    assert no_expiry.expiry is None
    assert no_expiry.last_event is not None
    assert no_expiry.keep_until == add_months(no_expiry.last_event.date(), 60)
    assert "no expiry: 60 months after its last event" in no_expiry.reason
    assert not no_expiry.due(DAY_DUE)
    assert no_expiry.due(no_expiry.may_archive_on)
    assert due.as_json(DAY_DUE)["due"] is True
    assert due.product == "Sữa tươi 1 L"


def test_an_open_batch_is_never_due(engine: Engine) -> None:
    batch = open_batch(engine, lot="LOPEN", expiry=date(2020, 1, 1))
    store(engine, item(1, "000001", after(batch, 1), lot="LOPEN"))
    with engine.connect() as connection:
        retention = lot_retention(connection, GTIN, "LOPEN")
    assert retention is not None
    assert "still open" in retention.reason
    assert not retention.due(date(2100, 1, 1))


def test_a_lot_not_due_is_refused_and_nothing_is_written(lots: Engine, tmp_path: Path) -> None:
    before = count(lots, events)
    with pytest.raises(ArchiveRefused, match="must be kept until"):
        archive_lot(lots, GTIN, KEPT, tmp_path / "archive", today=DAY_DUE)
    with pytest.raises(ArchiveRefused):
        archive_lot(lots, GTIN, DUE, tmp_path / "archive", today=DAY_DUE - timedelta(days=1))
    with pytest.raises(NotFound):
        archive_lot(lots, GTIN, "LNONE", tmp_path / "archive", today=DAY_DUE)
    assert count(lots, events) == before
    assert not (tmp_path / "archive").exists()


def test_archiving_a_due_lot_writes_verifies_and_removes_only_its_own(
    lots: Engine, tmp_path: Path
) -> None:
    folder = tmp_path / "archive"
    with lots.connect() as connection:
        kept_before = write_csv(connection, GTIN, KEPT, io.StringIO())
    done = archive_lot(lots, GTIN, DUE, folder, today=DAY_DUE)

    # The export: both files, whole, named in the manifest with their digests.
    manifest = json.loads(done.manifest.read_text(encoding="utf-8"))
    stem = file_stem(GTIN, DUE)
    assert done.manifest == folder / f"{stem}.manifest.json"
    assert manifest["events"] == done.exported == 5  # 3 reads and 2 packs
    assert manifest["retention"]["may_archive_on"] == DAY_DUE.isoformat()
    for name in (f"{stem}.epcis.json", f"{stem}.csv"):
        data = (folder / name).read_bytes()
        assert manifest["files"][name]["sha256"] == hashlib.sha256(data).hexdigest()
        assert manifest["files"][name]["events"] == 5
    assert (folder / f"{stem}.csv").stat().st_mode & 0o077 == 0
    rows = list(csv.DictReader(io.StringIO((folder / f"{stem}.csv").read_text("utf-8"))))
    assert sorted(r["serial"] or r["sscc"] for r in rows) == sorted(
        ["000001", "000002", "000003", sscc(2), sscc(1)]
    )
    assert not list(folder.glob("*.partial"))

    # Removed: DUE's reads and the case holding only DUE; kept: the case shared with KEPT.
    assert done.removed.events == 4
    assert done.removed.kept_shared == 1
    assert count(lots, events, events.c.lot == DUE) == 0
    assert count(lots, events, events.c.serial == "000003") == 0
    assert count(lots, events, events.c.sscc == sscc(2)) == 0
    assert count(lots, events, events.c.sscc == sscc(1)) == 1
    assert count(lots, containment, containment.c.child_lot == DUE) == 0
    assert count(lots, containment, containment.c.child_lot == KEPT) == 1
    assert count(lots, batches, batches.c.lot == DUE) == 0
    with lots.connect() as connection:
        assert lot_retention(connection, GTIN, DUE) is None
        # KEPT's export is whole: its read and the shared case are still there.
        assert write_csv(connection, GTIN, KEPT, io.StringIO()) == kept_before == 2
        assert lot_retention(connection, GTIN, NO_EXPIRY) is not None


def test_the_lot_without_expiry_goes_after_60_months(lots: Engine, tmp_path: Path) -> None:
    with lots.connect() as connection:
        retention = lot_retention(connection, GTIN, NO_EXPIRY)
    assert retention is not None
    day = retention.may_archive_on
    assert day >= add_months(TODAY, 60)
    with pytest.raises(ArchiveRefused):
        archive_lot(lots, GTIN, NO_EXPIRY, tmp_path, today=day - timedelta(days=1))
    done = archive_lot(lots, GTIN, NO_EXPIRY, tmp_path, today=day)
    assert (done.exported, done.removed.events) == (1, 1)
    # Five years on, KEPT is still within its 12 months after expiry; DUE is due.
    with lots.connect() as connection:
        assert [r.lot for r in lots_retention(connection) if r.due(day)] == [DUE]


def test_both_lots_of_a_shared_case_archived_leave_nothing(lots: Engine, tmp_path: Path) -> None:
    archive_lot(lots, GTIN, DUE, tmp_path, today=DAY_DUE)
    later = add_months(KEPT_EXPIRY, 12) + timedelta(days=1)
    done = archive_lot(lots, GTIN, KEPT, tmp_path, today=later)
    assert (done.exported, done.removed.events, done.removed.kept_shared) == (2, 2, 0)
    assert count(lots, events, events.c.sscc == sscc(1)) == 0
    assert count(lots, containment) == 0


def test_a_damaged_export_does_not_verify(lots: Engine, tmp_path: Path) -> None:
    path = tmp_path / "lot.epcis.json"
    with lots.connect() as connection, path.open("wb") as out:
        written = write_epcis(connection, GTIN, DUE, out, created=datetime.now(UTC))
    assert len(_check_epcis(path, written)) == written
    with pytest.raises(ArchiveRefused, match="holds 5 events"):
        _check_epcis(path, written + 1)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(ArchiveRefused, match="does not read back"):
        _check_epcis(path, written)
