"""The lot export's fast path writes what the generic mapping writes, byte for byte."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import given, settings
from hypothesis import strategies as st

from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.documents import encode
from linetrace.central.relay.epcis.fast_events import FIELDS, FastEvents
from linetrace.central.relay.epcis.hashing import Hasher
from linetrace.central.relay.epcis.mapping import StationFacts, event_time, map_row
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT
from tests.central.relay.epcis.stored_rows import mapping_inputs

_serials = st.text(
    "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz", min_size=1, max_size=20
)


def _row(row: dict[str, Any]) -> tuple[Any, ...]:
    """As the export reads it: ids as SQLite stores them, UTC times as text, a read's AI 11
    apart (when a string), the other kinds' payload as JSON text."""
    at = row["observed_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    produced = row["payload"].get("gs1", {}).get("11")
    read = row["kind"] == "read"
    values = {
        **row,
        "event_id": row["event_id"].hex,
        "observed_at": at,
        "payload": None if read else json.dumps(row["payload"]),
        "produced": produced if read and isinstance(produced, str) else None,
    }
    return tuple(values[name] for name in FIELDS)


def _sibling(row: dict[str, Any], draw: st.DrawFn) -> dict[str, Any]:
    """Another read of the same shape: only time, serial, seq and event id differ."""
    moved = row["observed_at"] + timedelta(microseconds=draw(st.integers(0, 10**10)))
    return {
        **row,
        "event_id": UUID(int=draw(st.integers(0, 2**122)) | (0x7 << 76) | (0b10 << 62)),
        "seq": draw(st.integers(0, 2**60)),
        "serial": draw(_serials) if row["serial"] is not None else None,
        "observed_at": moved,
    }


class _Batches:
    """One batch (or none) for every row, as lot_rows gives it for a steady page."""

    steady = True

    def __init__(self, batch: Batch | None) -> None:
        self.batch = batch

    def __call__(self, row: Any) -> Batch | None:
        return self.batch


def _fast(station: StationFacts | None) -> FastEvents:
    return FastEvents(Hasher(EPCIS_CONTEXT), lambda key: station)


def _page(fast: FastEvents, rows: list[dict[str, Any]], batch: Batch | None, text: bool) -> Any:
    done, declined = fast.page([_row(r) for r in rows], _Batches(batch), set(), text=text)
    return done, declined


@settings(max_examples=150, deadline=None)
@given(inputs=mapping_inputs(), data=st.data())
def test_later_reads_of_a_shape_match_the_generic_mapping(inputs: Any, data: Any) -> None:
    rows, stations, _, batches = inputs
    reference = Hasher(EPCIS_CONTEXT)
    for first in rows:
        station = stations[(first["site"], first["line"], first["station"])]
        batch = batches.get(first["event_id"])
        later = [first, *(_sibling(first, data.draw) for _ in range(3))]
        bodies, _ = _page(_fast(station), later, batch, text=True)
        lines, _ = _page(_fast(station), later, batch, text=False)
        for row, body, line in zip(later, bodies, lines, strict=True):
            assert (body is None) == (line is None)
            if body is None:
                continue
            mapped = map_row(row, station, (), batch, reference)
            assert mapped is not None
            assert body.encode() == encode(mapped.body)
            when = event_time(row["observed_at"], row["utc_offset_s"])[0]
            assert line.startswith(when + ",")
            assert line.endswith(f",passed,{mapped.epcis_event_id},{row['event_id']}\r\n")


def test_plain_reads_take_the_fast_path() -> None:
    """The common shape (a labelling station's reads in a batch) is not left to the
    generic path: the benchmark's speed depends on it."""
    rows, station, _, batch = _plain_rows()
    fast = _fast(station)
    done, declined = _page(fast, rows, batch, text=True)
    assert declined == [0]
    assert all(body is not None for body in done[1:])


def test_a_failed_check_or_an_odd_serial_goes_the_generic_way() -> None:
    rows, station, _, batch = _plain_rows()
    rows[3] = {**rows[3], "serial": "A/B"}
    fast = _fast(station)
    page = [_row(r) for r in rows]
    _, declined = fast.page(page, _Batches(batch), {str(rows[5]["event_id"])}, text=False)
    assert declined == [0, 3, 5]


def _plain_rows() -> tuple[list[dict[str, Any]], StationFacts, None, Batch | None]:
    base = {
        "site": "hcm1", "line": "L1", "station": "label-1", "kind": "read",
        "utc_offset_s": 25200, "symbology": "DataMatrix", "text": "x",
        "gtin": "08938500000010", "lot": "L2611", "sscc": None, "expiry": "270131",
        "payload": {"gs1": {"01": "08938500000010", "10": "L2611", "11": "250301"}},
    }  # fmt: skip
    rows = [
        {
            **base,
            "event_id": UUID(int=n | (0x7 << 76) | (0b10 << 62)),
            "seq": n,
            "serial": f"{n:08d}",
            "observed_at": datetime(2025, 3, 1, 1, tzinfo=UTC) + timedelta(milliseconds=10 * n),
        }
        for n in range(1, 20)
    ]
    station = StationFacts("8938500000010", "labelling")
    return rows, replace(station), None, None
