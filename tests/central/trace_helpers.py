"""Products, batches, items, cases and pallets for the trace tests, stored the way the
ingest stores them (``write_batch``), so the checks and containment are derived for real."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.derive.production_batches import Batch, BatchStart, close_batch, start_batch
from linetrace.central.derive.products import ProductData, put_product
from linetrace.central.ingest.write_batch import BatchOptions, BatchResult, Inbound, write_batch
from linetrace.gs1 import check_digit
from tests.central.helpers import GTIN, HCM, STATION, events_topic, make_event

LINE = "hcm1/L1"
LOT = "L2611"
# A second product with a valid GTIN-14 check digit.
OTHER_GTIN = "08938500000027"
PACKER = "hcm1/L1/case-1"
PALLETISER = "hcm1/L1/pallet-1"


def sscc(number: int) -> str:
    """An SSCC with a valid check digit: extension 0, company prefix 893850."""
    body = f"0893850{number:010d}"
    return body + str(check_digit(body))


def add_product(engine: Engine, gtin: str = GTIN, name: str = "Sữa tươi 1 L") -> None:
    with engine.begin() as connection:
        put_product(connection, gtin, ProductData(name=name, producer_name="Công ty A"))


def open_batch(engine: Engine, line: str = LINE, lot: str = LOT, **fields: Any) -> Batch:
    """A batch on ``line`` of GTIN (its product set first, if needed)."""
    fields.setdefault("gtin", GTIN)
    add_product(engine, fields["gtin"])
    with engine.begin() as connection:
        return start_batch(connection, BatchStart(line=line, lot=lot, **fields))


def close(engine: Engine, batch: Batch) -> Batch:
    with engine.begin() as connection:
        return close_batch(connection, batch.id)


def item(
    seq: int,
    serial: str,
    at: datetime,
    *,
    lot: str | None = LOT,
    gtin: str = GTIN,
    expiry: date | None = None,
    station: str = STATION,
    **extra: Any,
) -> ScanEvent:
    """A read of one item, GS1 DataMatrix, seen at ``at``."""
    gs1 = {"01": gtin, "21": serial}
    text = f"01{gtin}"
    if lot is not None:
        gs1["10"] = lot
        text += f"10{lot}\x1d"
    if expiry is not None:
        gs1["17"] = expiry.strftime("%y%m%d")
        text += f"17{gs1['17']}"
    text += f"21{serial}"
    return make_event(seq, station=station, observed_at=at, text=text, gs1=gs1, **extra)


def pack(
    seq: int,
    parent_sscc: str,
    children: Sequence[dict[str, str]],
    at: datetime,
    *,
    station: str = PACKER,
) -> ScanEvent:
    """A pack event: the parent's SSCC label seen with the children's codes (gs1 maps)."""
    reads = [{"text": _text(gs1), "gs1": dict(gs1)} for gs1 in children]
    return make_event(
        seq,
        station=station,
        observed_at=at,
        kind="pack",
        text=f"00{parent_sscc}",
        gs1={"00": parent_sscc},
        symbology="GS1-128",
        symbology_id="]C1",
        children=reads,
    )


def store(engine: Engine, *scans: ScanEvent) -> BatchResult:
    """Store events as the ingest does: one batch, stations registered on first sight."""
    received = datetime.now(UTC)
    messages = [Inbound(events_topic(str(e.station_id)), e.to_payload(), received) for e in scans]
    return write_batch(engine, messages, BatchOptions(auto_register=True))


def after(batch: Batch, seconds: float) -> datetime:
    """A time ``seconds`` into the batch, in the station's offset (+07:00)."""
    return (batch.started_at + timedelta(seconds=seconds)).astimezone(HCM)


def _text(gs1: dict[str, str]) -> str:
    return "".join(f"{ai}{value}" for ai, value in gs1.items())
