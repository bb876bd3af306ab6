"""A plant in a database: a few lines' lots, read, packed and checked, for the trace timings.

Written straight into a migrated database with Core inserts (no broker, no ingest): every
item read at two check stations, packed 24 to a case and 40 cases to a pallet (pack events
and containment rows), a few no-reads and mismatches, one batch per lot. Each chunk's lot
summaries are kept by the ingest's own function (``record_lot_summaries``), in the
transaction that stores the chunk.
"""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from harness.events import uuid7
from linetrace.central.derive.lot_summaries import record_lot_summaries
from linetrace.central.store import events, insert_events
from linetrace.central.store.tables import station_progress
from linetrace.central.store.trace_tables import batches, containment, event_checks, products
from linetrace.gs1 import check_digit

__all__ = [
    "CASES_PER_PALLET",
    "INGEST_BATCH",
    "ITEMS_PER_CASE",
    "ITEMS_PER_LOT",
    "LINES",
    "Lot",
    "ingest_cost",
    "load_plant",
    "settle",
]

# A lot is a shift of one line: 9,600 items (ten full pallets) at about three a second.
ITEMS_PER_LOT = 9_600
ITEMS_PER_CASE = 24
CASES_PER_PALLET = 40
LINES = 4
# One read in two hundred is a no-read, one in two hundred fails a check: a line that
# works, with enough of both for the lot trace's no-read and mismatch parts to have data.
NOREAD_EVERY = 200
MISMATCH_EVERY = 200
ITEM_INTERVAL = timedelta(milliseconds=350)
# Rows per insert statement batch: big enough that per-statement overhead vanishes,
# small enough to keep the generated rows of one chunk in a few megabytes.
CHUNK = 5000
# The ingest's default batch size: the unit the summaries' cost per event is measured in.
INGEST_BATCH = 500
HCM = timezone(timedelta(hours=7))
SITE = "bench"


@dataclass(frozen=True, slots=True)
class Lot:
    number: int
    line: str
    gtin: str
    lot: str
    started_at: datetime
    closed_at: datetime


def load_plant(engine: Engine, wanted_events: int) -> tuple[list[Lot], int]:
    events_per_lot = ITEMS_PER_LOT * 2 + ITEMS_PER_LOT // NOREAD_EVERY
    events_per_lot += ITEMS_PER_LOT // ITEMS_PER_CASE + ITEMS_PER_LOT // (
        ITEMS_PER_CASE * CASES_PER_PALLET
    )
    count = max(1, wanted_events // events_per_lot)
    gtins = [_gtin(n) for n in range(LINES)]
    with engine.begin() as connection:
        now = datetime.now(UTC)
        connection.execute(
            products.insert(),
            [
                {"gtin": g, "name": f"Product {g}", "standards": [], "created_at": now,
                 "updated_at": now}
                for g in gtins
            ],
        )  # fmt: skip
    seqs: dict[str, int] = {}
    lots = []
    stored = 0
    start = datetime(2025, 3, 1, 6, 0, tzinfo=HCM)
    for number in range(count):
        line = f"L{number % LINES + 1}"
        began = start + (number // LINES) * ITEM_INTERVAL * (ITEMS_PER_LOT + 100)
        lot = Lot(
            number, line, gtins[number % LINES], f"LOT{number:05d}", began,
            began + ITEM_INTERVAL * (ITEMS_PER_LOT + 50),
        )  # fmt: skip
        stored += _load_lot(engine, lot, seqs)
        lots.append(lot)
    with engine.begin() as connection:
        connection.execute(
            station_progress.insert(),
            [
                {"site": SITE, "line": name.split("/")[0], "station": name.split("/")[1],
                 "watermark": seq, "max_seq_seen": seq, "behind_since": None,
                 "updated_at": datetime.now(UTC)}
                for name, seq in seqs.items()
            ],
        )  # fmt: skip
    return lots, stored


def _load_lot(engine: Engine, lot: Lot, seqs: dict[str, int]) -> int:
    with engine.begin() as connection:
        batch_id = connection.execute(
            batches.insert()
            .values(
                site=SITE, line=lot.line, gtin=lot.gtin, lot=lot.lot,
                expiry=date(2027, 1, 1), started_at=lot.started_at, closed_at=lot.closed_at,
            )
            .returning(batches.c.id)
        ).scalar_one()  # fmt: skip
    stored = 0
    for first in range(0, ITEMS_PER_LOT, CHUNK):
        rows, stays, failed = _chunk(
            lot, batch_id, range(first, min(first + CHUNK, ITEMS_PER_LOT)), seqs
        )
        with engine.begin() as connection:
            connection.execute(events.insert(), rows)
            if stays:
                connection.execute(containment.insert(), stays)
            if failed:
                connection.execute(event_checks.insert(), failed)
            record_lot_summaries(connection, rows)
        stored += len(rows)
    return stored


def ingest_cost(engine: Engine, number: int) -> tuple[float, float]:
    """One more lot stored as the ingest stores it: microseconds per event for the lot
    summaries and, to compare, for the events' own idempotent insert.

    The lot's stays are stored first, untimed: the ingest's containment step is not part
    of the summaries' cost, and the recount of a pack's parent finds its children as it
    would after that step.
    """
    line = f"L{number % LINES + 1}"
    began = datetime(2025, 3, 1, 6, 0, tzinfo=HCM) + timedelta(days=365)
    lot = Lot(
        number, line, _gtin(number % LINES), f"LOT{number:05d}", began,
        began + ITEM_INTERVAL * (ITEMS_PER_LOT + 50),
    )  # fmt: skip
    rows, stays, _ = _chunk(lot, 0, range(ITEMS_PER_LOT), {})
    rows.sort(key=lambda row: row["observed_at"])
    with engine.begin() as connection:
        connection.execute(containment.insert(), stays)
    summaries_s = insert_s = 0.0
    for first in range(0, len(rows), INGEST_BATCH):
        batch = rows[first : first + INGEST_BATCH]
        with engine.begin() as connection:
            started = time.perf_counter()
            insert_events(connection, batch)
            inserted = time.perf_counter()
            record_lot_summaries(connection, batch)
            summaries_s += time.perf_counter() - inserted
            insert_s += inserted - started
    return summaries_s / len(rows) * 1e6, insert_s / len(rows) * 1e6


def _chunk(
    lot: Lot, batch_id: int, numbers: range, seqs: dict[str, int]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rows: list[dict[str, Any]] = []
    stays: list[dict[str, Any]] = []
    failed: list[dict[str, Any]] = []
    for n in numbers:
        at = lot.started_at + n * ITEM_INTERVAL
        serial = f"{lot.number:05d}{n:06d}"
        gs1 = {"01": lot.gtin, "10": lot.lot, "21": serial}
        for station, delay in (("check-1", 0.0), ("check-2", 2.0)):
            row = _event(lot, station, seqs, at + timedelta(seconds=delay), "read", gs1)
            rows.append(row)
            if n % MISMATCH_EVERY == 7 and station == "check-1":
                failed.append(_failure(row, batch_id))
        if n % NOREAD_EVERY == 3:
            rows.append(_event(lot, "check-1", seqs, at + timedelta(seconds=1), "noread", None))
        case = _sscc(lot.number, n // ITEMS_PER_CASE)
        stays.append(_stay(f"(00){case}", f"(01){lot.gtin}(21){serial}", lot, at, lot.gtin))
        if n % ITEMS_PER_CASE == ITEMS_PER_CASE - 1:
            rows.append(
                _event(lot, "case-1", seqs, at + timedelta(seconds=5), "pack", {"00": case})
            )
            case_number = n // ITEMS_PER_CASE
            pallet = _sscc(lot.number, 900_000 + case_number // CASES_PER_PALLET)
            stays.append(_stay(f"(00){pallet}", f"(00){case}", lot, at, None))
            if case_number % CASES_PER_PALLET == CASES_PER_PALLET - 1:
                rows.append(
                    _event(lot, "pallet-1", seqs, at + timedelta(seconds=9), "pack", {"00": pallet})
                )
    return rows, stays, failed


def _event(
    lot: Lot,
    station: str,
    seqs: dict[str, int],
    at: datetime,
    kind: str,
    gs1: dict[str, str] | None,
) -> dict[str, Any]:
    name = f"{lot.line}/{station}"
    seqs[name] = seq = seqs.get(name, 0) + 1
    text = None if gs1 is None else "".join(f"{ai}{value}" for ai, value in gs1.items())
    event_id = _uuid7(at)
    return {
        "event_id": event_id, "schema_version": "1.1", "site": SITE, "line": lot.line,
        "station": station, "seq": seq, "kind": kind, "observed_at": at,
        "utc_offset_s": 7 * 3600, "received_at": at + timedelta(milliseconds=40),
        "symbology": None if gs1 is None else "DataMatrix",
        "symbology_id": None if gs1 is None else "]d2", "text": text,
        "gtin": (gs1 or {}).get("01"), "serial": (gs1 or {}).get("21"),
        "lot": (gs1 or {}).get("10"), "sscc": (gs1 or {}).get("00"), "expiry": None,
        "frames": 3,
        "payload": {"schema_version": "1.1", "event_id": str(event_id), "site": SITE,
                    "line": lot.line, "station": station, "seq": seq, "kind": kind,
                    "observed_at": at.isoformat(), "text": text, "gs1": gs1, "frames": 3},
    }  # fmt: skip


def _stay(parent: str, child: str, lot: Lot, at: datetime, gtin: str | None) -> dict[str, Any]:
    return {
        "parent_code": parent, "child_code": child, "child_gtin": gtin,
        "child_lot": lot.lot if gtin else None, "packed_at": at,
        "packed_event_id": _uuid7(at), "site": SITE, "line": lot.line, "station": "case-1",
        "unpacked_at": None, "unpacked_event_id": None,
    }  # fmt: skip


def _failure(row: dict[str, Any], batch_id: int) -> dict[str, Any]:
    return {
        "event_id": row["event_id"], "source": "central", "check": "lot",
        "detail": "lot LOTX is not the batch's", "batch_id": batch_id, "site": SITE,
        "line": row["line"], "station": row["station"], "observed_at": row["observed_at"],
        "gtin": row["gtin"], "lot": row["lot"], "code": row["text"],
    }  # fmt: skip


def _gtin(number: int) -> str:
    body = f"0893850000{number:03d}"
    return body + str(check_digit(body))


def _sscc(lot_number: int, case_number: int) -> str:
    body = f"0893850{lot_number:04d}{case_number:06d}"
    return body + str(check_digit(body))


def _uuid7(at: datetime) -> uuid.UUID:
    return uuid7(int(at.timestamp() * 1000))


def settle(engine: Engine) -> None:
    """Statistics (and PostgreSQL's visibility map) as a running database keeps them."""
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(sa.text("VACUUM ANALYZE"))
        else:
            connection.execute(sa.text("ANALYZE"))
