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
    """As the export reads it: ids as SQLite stores them, UTC times as text, JSON text."""
    at = row["observed_at"].astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
    values = {
        **row,
        "event_id": row["event_id"].hex,
        "observed_at": at,
        "payload": json.dumps(row["payload"]),
        "checked": False,
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


@settings(max_examples=150, deadline=None)
@given(inputs=mapping_inputs(), data=st.data())
def test_later_reads_of_a_shape_match_the_generic_mapping(inputs: Any, data: Any) -> None:
    rows, stations, _, batches = inputs
    fast = FastEvents(Hasher(EPCIS_CONTEXT))
    reference = Hasher(EPCIS_CONTEXT)
    for first in rows:
        station = stations[(first["site"], first["line"], first["station"])]
        batch = batches.get(first["event_id"])
        for later in [first, *(_sibling(first, data.draw) for _ in range(3))]:
            got = fast.event(_row(later), str(later["event_id"]), station, batch, text=True)
            if got is None:
                continue
            mapped = map_row(later, station, (), batch, reference)
            assert mapped is not None
            assert got[0] == mapped.epcis_event_id
            assert got[1] == event_time(later["observed_at"], later["utc_offset_s"])[0]
            assert got[2] is not None
            assert got[2].encode() == encode(mapped.body)


def test_plain_reads_take_the_fast_path() -> None:
    """The common shape (a labelling station's reads in a batch) is not left to the
    generic path: the benchmark's speed depends on it."""
    rows, stations, _, batches = _plain_rows()
    fast = FastEvents(Hasher(EPCIS_CONTEXT))
    results = [fast.event(_row(r), str(r["event_id"]), stations, batches, text=True) for r in rows]
    assert results[0] is None
    assert all(r is not None for r in results[1:])


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
