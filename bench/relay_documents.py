"""Document-building benchmark: stored events -> EPCIS documents, events/s on one core.

Run: ``python bench/relay_documents.py [--events N] [--repeat R]``. It builds N stored
event rows in memory (the ``events`` table's columns, as the relay reads them: serialised
reads of one product at a packing station with a GLN and an open batch, every 20th event
a pack of a case with 12 children, every 50th with a failed check), then times, in this
one process (one core):

- the baseline: ``json.dumps`` of the same rows (what any serialisation costs);
- mapping only (:func:`map_rows`: EPCIS event dicts, eventID = CBV 2.0 hash included);
- the whole document build: mapping + hash + ``split`` into documents of 100 events /
  100,000 bytes + ``encode`` of each document.

It prints events/s of each, the ratio of the whole build to the baseline, and whether
the target (>= 20,000 events/s for the whole build) is met. No database is involved:
:func:`map_events` adds one query per table per chunk of 1,000 events on top.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.documents import document, encode, split
from linetrace.central.relay.epcis.mapping import FailedCheck, StationFacts, map_rows
from linetrace.gs1 import check_digit

TARGET_EVENTS_PER_S = 20_000
GTIN = "08938500000010"
GLN = "8938500000010"
LOT = "L2611"
# Every PACK_EVERY-th event packs a case of CASE_SIZE items; every FAIL_EVERY-th failed a check.
PACK_EVERY, CASE_SIZE, FAIL_EVERY = 20, 12, 50
START = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


def _sscc(number: int) -> str:
    body = f"0893850{number:010d}"
    return body + str(check_digit(body))


def rows(count: int) -> list[dict[str, Any]]:
    built = []
    for n in range(1, count + 1):
        serial = f"{n:08d}"
        row: dict[str, Any] = {
            "event_id": UUID(int=(n << 64) | (0x7 << 76) | (0b10 << 62)),
            "site": "hcm1", "line": "L1", "station": "pack-1", "seq": n, "kind": "read",
            "observed_at": START + timedelta(milliseconds=50 * n), "utc_offset_s": 25200,
            "symbology": "DataMatrix", "text": f"01{GTIN}10{LOT}\x1d21{serial}",
            "gtin": GTIN, "serial": serial, "lot": LOT, "sscc": None, "expiry": "270131",
            "payload": {"gs1": {"01": GTIN, "10": LOT, "21": serial, "17": "270131"}},
        }  # fmt: skip
        if n % PACK_EVERY == 0:
            parent = _sscc(n)
            children = [{"gs1": {"01": GTIN, "21": f"{n - k:08d}"}} for k in range(CASE_SIZE)]
            row.update(kind="pack", gtin=None, serial=None, lot=None, expiry=None, sscc=parent)
            row["payload"] = {"gs1": {"00": parent}, "children": children}
        built.append(row)
    return built


def _rate(count: int, action: Callable[[], object], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        best = min(best, time.perf_counter() - started)
    return count / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3, help="best of R runs")
    args = parser.parse_args()

    stored = rows(args.events)
    stations = {("hcm1", "L1", "pack-1"): StationFacts(GLN, "packing")}
    failed = {
        row["event_id"]: [FailedCheck("central", "lot", "lot L9 is not the batch's L2611")]
        for i, row in enumerate(stored)
        if i % FAIL_EVERY == 0
    }
    batch = Batch(
        id=1, line="hcm1/L1", gtin=GTIN, lot=LOT, expiry=date(2027, 1, 31),
        production_date=date(2025, 3, 1), target_quantity=None, production_order="PO-1",
        started_at=START, closed_at=None,
    )  # fmt: skip
    batches = {row["event_id"]: batch for row in stored}
    created = datetime.now(UTC)

    def baseline() -> None:
        for row in stored:
            json.dumps(row, default=str, separators=(",", ":"))

    def mapping() -> None:
        map_rows(stored, stations, failed, batches)

    def documents() -> None:
        mapped = map_rows(stored, stations, failed, batches)
        for group in split(mapped, 100, 100_000):
            encode(document([m.body for m in group], created=created))

    documents()  # warm the caches as a running relay has them
    base = _rate(args.events, baseline, args.repeat)
    mapped = _rate(args.events, mapping, args.repeat)
    whole = _rate(args.events, documents, args.repeat)
    print(f"events: {args.events} (best of {args.repeat}, one core)")
    print(f"baseline json.dumps of the rows: {base:,.0f} events/s")
    print(f"mapping + hash:                  {mapped:,.0f} events/s")
    print(f"mapping + hash + split + encode: {whole:,.0f} events/s")
    print(f"ratio whole build / baseline:    {whole / base:.2f}")
    verdict = "met" if whole >= TARGET_EVENTS_PER_S else "NOT met"
    print(f"target >= {TARGET_EVENTS_PER_S:,} events/s: {verdict}")


if __name__ == "__main__":
    main()
