"""A lot with everything Circular 02/2024 asks for, stored as the ingest stores it, for
the portal check and the vn-portal adapter tests; each part can be left out by name."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.master_data import (
    LocationData,
    ProducerData,
    put_location,
    put_producer,
)
from linetrace.central.derive.production_batches import Batch
from linetrace.central.derive.products import ProductData, put_product
from linetrace.central.derive.stations import register_station
from linetrace.central.store import events
from linetrace.gs1 import check_digit
from tests.central.helpers import GTIN, STATION
from tests.central.trace_helpers import LOT, PACKER, after, item, open_batch, store

__all__ = ["CASE_GLN", "IMAGE", "PACK_GLN", "Lot", "gln", "stored_lot"]

IMAGE = "https://cdn.example.com/sua-tuoi-1l.jpg"


def gln(number: int) -> str:
    """A GLN with a valid check digit under prefix 893850."""
    body = f"893850{number:06d}"
    return body + str(check_digit(body))


PACK_GLN = gln(101)
CASE_GLN = gln(102)


@dataclass(frozen=True)
class Lot:
    batch: Batch
    event_ids: list[UUID]


def stored_lot(
    engine: Engine,
    *,
    reads: int = 4,
    image_url: str | None = IMAGE,
    producer_address: str | None = "Lô A1, KCN Sóng Thần, Bình Dương",
    with_gln: bool = True,
    with_locations: bool = True,
    first_seq: int = 1,
) -> Lot:
    """A batch of GTIN/LOT and ``reads`` item reads at two stations (pack-1, case-1)."""
    batch = open_batch(engine, expiry=date(2026, 3, 1), production_order="PO-7781")
    with engine.begin() as connection:
        put_product(
            connection,
            GTIN,
            ProductData.model_validate(
                {
                    "name": "Sữa tươi tiệt trùng 1 L",
                    "image_url": image_url,
                    "standards": ["TCVN 7028:2009", "QCVN 5-1:2010/BYT"],
                    "brand": "Sữa A",
                    "unit": "hộp",
                }
            ),
        )
        if producer_address is not None:
            put_producer(
                connection,
                ProducerData(name="Công ty Sữa A", address=producer_address, tax_code="0301234567"),
            )
    scans = [
        item(first_seq + n, f"{first_seq + n:06d}", after(batch, 1 + n),
             station=STATION if n % 2 == 0 else PACKER, expiry=date(2026, 3, 1))
        for n in range(reads)
    ]  # fmt: skip
    store(engine, *scans)
    with engine.begin() as connection:
        if with_gln:
            register_station(connection, StationId.parse(STATION), gln=PACK_GLN)
            register_station(connection, StationId.parse(PACKER), gln=CASE_GLN)
        if with_locations:
            put_location(
                connection, PACK_GLN, LocationData(name="Xưởng chiết rót", address="Bình Dương")
            )
            put_location(
                connection,
                CASE_GLN,
                LocationData(name="Kho thành phẩm", address="Bình Dương", kind="warehouse"),
            )
    return Lot(batch, [scan.event_id for scan in scans])


def lot_event_ids(engine: Engine) -> list[UUID]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(events.c.event_id).where(events.c.lot == LOT).order_by(events.c.seq)
            ).scalars()
        )
