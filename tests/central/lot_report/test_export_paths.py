"""The lot export's fast path gives the bytes the generic mapping gives, on both backends.

The reference below is the export as it was before the fast path: every row read whole,
mapped by ``map_rows`` with ``facts_for`` and encoded with ``encode``.
"""

from __future__ import annotations

import csv
import io
from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.stations import register_station
from linetrace.central.relay.epcis.documents import document, encode
from linetrace.central.relay.epcis.fast_events import FastEvents
from linetrace.central.relay.epcis.lot_export import (
    CSV_COLUMNS,
    csv_chunks,
    epcis_chunks,
    lot_pages,
)
from linetrace.central.relay.epcis.mapping import event_time, map_rows
from linetrace.central.relay.epcis.sources import facts_for
from linetrace.central.store import open_engine, upgrade
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import event_checks
from tests.central.helpers import GTIN, STATION, make_event
from tests.central.trace_helpers import LOT, PACKER, after, item, open_batch, pack, sscc, store

CREATED = datetime(2025, 3, 2, tzinfo=UTC)


def _reference_epcis(connection: Connection, lot: str) -> bytes:
    bodies = []
    for rows in lot_pages(connection, GTIN, lot, 7):
        bodies += [encode(m.body) for m in map_rows(rows, *facts_for(connection, rows))]
    head, _, tail = encode(document([], created=CREATED)).partition(b'"eventList":[]')
    return head + b'"eventList":[' + b",".join(bodies) + b"]" + tail


def _reference_csv(connection: Connection, lot: str) -> bytes:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    for rows in lot_pages(connection, GTIN, lot, 7):
        stations, failed, batch_of = facts_for(connection, rows)
        ids = {
            m.source_event_id: m.epcis_event_id
            for m in map_rows(rows, *(stations, failed, batch_of))
        }
        for row in rows:
            found = failed.get(row["event_id"], [])
            checks = "failed: " + "; ".join(f"{f.source}/{f.check}: {f.detail}" for f in found)
            children = row["payload"].get("children") if row["kind"] == "pack" else None
            writer.writerow(
                (
                    event_time(row["observed_at"], row["utc_offset_s"])[0],
                    f"{row['site']}/{row['line']}/{row['station']}", row["kind"],
                    row["gtin"] or "", row["lot"] or "", row["serial"] or "", row["sscc"] or "",
                    "" if children is None else len(children), checks if found else "passed",
                    ids.get(row["event_id"], ""), str(row["event_id"]),
                )
            )  # fmt: skip
    return out.getvalue().encode()


@pytest.fixture(params=[LOT, 'L"9,9'])
def lot(request: pytest.FixtureRequest) -> str:
    """A plain lot, and one whose CSV field needs quoting."""
    return str(request.param)


@pytest.fixture
def lot_url(database_url: str, lot: str) -> str:
    """Plain reads on a labeller (the fast path), and what it declines: odd serials, a
    read without AI 10, reads with their own expiry, a failed check, a pack; reads with
    their own AI 11 (their shape's first declined)."""
    upgrade(database_url)
    engine = open_engine(database_url)
    try:
        batch = open_batch(engine, lot=lot, expiry=date(2027, 1, 31), production_order="PO-7")
        with engine.begin() as connection:
            register_station(
                connection, StationId.parse(STATION), gln="8938500000010", role="labelling"
            )
        reads: list[Any] = [
            item(seq, f"S{seq:05d}", after(batch, seq / 10), lot=lot) for seq in range(1, 40)
        ]
        reads += [
            item(40, "A/B%1", after(batch, 4.05), lot=lot),
            item(41, "000041", after(batch, 4.15), lot=None),
            item(42, "000042", after(batch, 4.25), lot=lot, expiry=date(2026, 12, 31)),
            item(43, "000043", after(batch, 4.35), lot=lot, expiry=date(2026, 12, 31)),
            make_event(5, kind="noread", observed_at=after(batch, 4.4)),
        ]
        reads += [  # their own production date (AI 11): a shape of their own
            make_event(
                seq,
                observed_at=after(batch, 4.36 + seq / 1000),
                text=f"01{GTIN}11250301" + f"10{lot}\x1d21P{seq}",
                gs1={"01": GTIN, "11": "250301", "10": lot, "21": f"P{seq}"},
            )
            for seq in (44, 45, 46)
        ]
        children = [{"01": GTIN, "10": lot, "21": f"S{seq:05d}"} for seq in (1, 2)]
        store(engine, *reads, pack(1, sscc(1), children, after(batch, 5), station=PACKER))
        with engine.begin() as connection:
            checked = (
                connection.execute(sa.select(events).where(events.c.serial == "S00007"))
                .mappings()
                .one()
            )
            connection.execute(
                event_checks.insert().values(
                    event_id=checked["event_id"], source="central", check="lot",
                    detail="lô sai", batch_id=batch.id, site=checked["site"],
                    line=checked["line"], station=checked["station"],
                    observed_at=checked["observed_at"], gtin=GTIN, lot=lot, code="x",
                )
            )  # fmt: skip
    finally:
        engine.dispose()
    return database_url


@pytest.mark.parametrize("page", [1, 5, 1000])
def test_both_formats_are_the_generic_bytes(
    lot_url: str, lot: str, page: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast: list[int] = []
    page_of = FastEvents.page

    def counted(self: FastEvents, rows: Any, *args: Any, **kwargs: Any) -> Any:
        done, declined = page_of(self, rows, *args, **kwargs)
        fast.append(len(rows) - len(declined))
        return done, declined

    monkeypatch.setattr(FastEvents, "page", counted)
    engine = open_engine(lot_url)
    try:
        with engine.connect() as connection:
            fast_epcis = b"".join(epcis_chunks(connection, GTIN, lot, created=CREATED, page=page))
            fast_csv = b"".join(csv_chunks(connection, GTIN, lot, page=page))
            assert fast_epcis == _reference_epcis(connection, lot)
            assert fast_csv == _reference_csv(connection, lot)
    finally:
        engine.dispose()
    assert fast_csv.count(b"\r\n") == 1 + 39 + 4 + 3 + 1  # header, reads, declined, AI 11, pack
    assert b'"lt:productionDate":"2025-03-01"' in fast_epcis
    assert b"failed: central/lot: l\xc3\xb4 sai" in fast_csv
    # Each format: the plain reads but the first and the checked; the AI 11 reads but one.
    assert sum(fast) == 2 * (39 - 2 + 2)
