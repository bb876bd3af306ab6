"""Hypothesis strategies for stored events (``events`` rows) and what the mapping reads
beside them: any kind of event the relay maps, any GS1 character-set-82 serial and lot,
any station offset and role, failed checks with free text."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any
from uuid import UUID

from hypothesis import strategies as st

from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.mapping import FailedCheck, StationFacts
from linetrace.gs1 import check_digit

GTIN = "08938500000010"
GLN = "8938500000010"
CSET82 = "!\"%&'()*+,-./0123456789:;<=>?ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
_ID_PART = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"


def _not_float_lenient(text: str) -> bool:
    """Leave out texts Python's float() reads but a decimal number is not ("1_0", "inf"):
    the reference implementation turns them into numbers (or fails on them)."""
    try:
        float(text)
    except ValueError:
        return True
    return "_" not in text and text.strip().lower().lstrip("+-") not in {"inf", "infinity", "nan"}


codes = st.text(CSET82, min_size=1, max_size=20).filter(_not_float_lenient)
id_parts = st.text(_ID_PART, min_size=1, max_size=12).filter(lambda s: s[0] not in "_.-")


def _key(body: str) -> str:
    return body + str(check_digit(body))


gtins = st.integers(0, 10**12 - 1).map(lambda n: _key(f"0893{n:09d}"[:13]))
ssccs = st.integers(0, 10**9).map(lambda n: _key(f"08938500{n:09d}"))


@st.composite
def children(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(["item", "case", "lot"]))
    if kind == "case":
        return {"gs1": {"00": draw(ssccs)}}
    if kind == "lot":
        return {"gs1": {"01": draw(gtins), "10": draw(codes)}}
    return {"gs1": {"01": draw(gtins), "21": draw(codes)}}


@st.composite
def stored_events(draw: st.DrawFn, seq: int) -> dict[str, Any]:
    kind = draw(st.sampled_from(["item", "lot", "product", "sscc", "pack"]))
    when = draw(st.datetimes(datetime(2024, 1, 1), datetime(2030, 1, 1), timezones=st.just(UTC)))
    row: dict[str, Any] = {
        "event_id": UUID(int=draw(st.integers(0, 2**60)) | (0x7 << 76) | (0b10 << 62)),
        "site": "hcm1", "line": draw(id_parts), "station": draw(id_parts), "seq": seq,
        "kind": "read", "observed_at": when,
        "utc_offset_s": draw(st.integers(-12 * 60, 14 * 60)) * 60,
        "symbology": draw(st.sampled_from(["DataMatrix", "QRCode", None])), "text": "x",
        "gtin": None, "serial": None, "lot": None, "sscc": None, "expiry": None, "payload": {},
    }  # fmt: skip
    if kind in ("item", "lot", "product"):
        row["gtin"] = draw(gtins)
        row["lot"] = draw(codes) if kind != "product" else None
        row["serial"] = draw(codes) if kind == "item" else None
        row["expiry"] = draw(st.sampled_from([None, "270131", "261200"]))
    elif kind == "sscc":
        row["sscc"] = draw(ssccs)
    else:
        row.update(kind="pack", sscc=draw(ssccs))
        row["payload"] = {"children": draw(st.lists(children(), min_size=1, max_size=5))}
    return row


@st.composite
def mapping_inputs(
    draw: st.DrawFn,
) -> tuple[
    list[dict[str, Any]],
    dict[tuple[str, str, str], StationFacts],
    dict[UUID, list[FailedCheck]],
    dict[UUID, Batch],
]:
    """Rows plus stations, failed checks and batches, as ``map_rows`` takes them."""
    count = draw(st.integers(1, 8))
    rows = [draw(stored_events(seq)) for seq in range(1, count + 1)]
    roles = st.sampled_from([None, "labelling", "packing", "shipping", "odd-role"])
    stations = {
        (r["site"], r["line"], r["station"]): StationFacts(
            draw(st.sampled_from([GLN, None])), draw(roles)
        )
        for r in rows
    }
    texts = st.text(min_size=1, max_size=40).filter(_not_float_lenient)
    failed = {
        r["event_id"]: [FailedCheck(draw(st.sampled_from(["central", "edge"])), "lot", draw(texts))]
        for r in rows
        if draw(st.booleans())
    }
    batch = Batch(
        id=draw(st.integers(1, 10**6)), line="hcm1/L1", gtin=GTIN, lot=draw(codes),
        expiry=draw(st.sampled_from([None, date(2027, 1, 31)])),
        production_date=draw(st.sampled_from([None, date(2025, 3, 1)])), target_quantity=None,
        production_order=draw(st.sampled_from([None, "PO-7"])),
        started_at=datetime(2024, 1, 1, tzinfo=UTC) - timedelta(days=1), closed_at=None,
    )  # fmt: skip
    batches = {r["event_id"]: batch for r in rows if draw(st.booleans())}
    return rows, stations, failed, batches
