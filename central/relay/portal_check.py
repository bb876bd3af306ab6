"""Does a lot carry the 10 minimum data elements of Circular 02/2024/TT-BKHCN?

The national portal takes a lot only with its master data and its stages; sending one
that lacks an element gets it refused there (or, worse, published incomplete). This
module answers per element whether the lot has it and where it comes from (the table
and column, so an operator knows what to fill in), and :func:`missing_required` is the
gate the relay calls before it sends a lot to a Vietnamese target.

Elements 8 (brand, mark, model code, serial) and 9 (expiry) apply "if any": they are
reported but never block. Reads only; one short query per source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, Field
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.store.tables import events, stations
from linetrace.central.store.trace_tables import (
    batches,
    locations,
    lot_station_summaries,
    lot_summaries,
    producer,
    products,
)
from linetrace.errors import InvalidCode, NotFound
from linetrace.gs1 import gtin14, valid_lot

__all__ = [
    "ELEMENTS",
    "Element",
    "ElementStatus",
    "LotCheck",
    "LotNotFound",
    "check_lot",
    "missing_required",
    "parse_lot_key",
    "traceability_code",
]


@dataclass(frozen=True)
class Element:
    """One of the Circular's minimum elements: its number, our key and both names."""

    number: int
    key: str
    name_vi: str
    name_en: str
    required: bool


# Circular 02/2024/TT-BKHCN, the minimum information elements, in the Circular's order.
ELEMENTS: tuple[Element, ...] = (
    Element(1, "product_name", "Tên sản phẩm, hàng hóa", "product name", True),
    Element(2, "product_image", "Hình ảnh sản phẩm", "product image", True),
    Element(3, "producer_name", "Tên đơn vị sản xuất, kinh doanh", "producer name", True),
    Element(4, "producer_address", "Địa chỉ đơn vị sản xuất, kinh doanh", "producer address", True),
    Element(
        5,
        "stages",
        "Các công đoạn (mã truy vết sản phẩm, mã truy vết địa điểm, thời gian diễn ra sự kiện)",
        "stages (product trace code, location trace code, event time)",
        True,
    ),
    Element(6, "production_time", "Thời gian sản xuất, kinh doanh", "production time", True),
    Element(7, "traceability_code", "Mã truy xuất nguồn gốc", "traceability code", True),
    Element(
        8,
        "brand_model_serial",
        "Thương hiệu, nhãn hiệu, mã ký hiệu, số sê-ri (nếu có)",
        "brand, mark, model code, serial (if any)",
        False,
    ),
    Element(9, "expiry", "Thời hạn sử dụng (nếu có)", "expiry (if any)", False),
    Element(10, "standards", "Các tiêu chuẩn được áp dụng", "standards applied", True),
)
_BY_KEY = {element.key: element for element in ELEMENTS}


class ElementStatus(BaseModel):
    """Whether a lot has one element, and from where."""

    number: int = Field(description="The element's number in the Circular (1-10).")
    key: str = Field(description="Our name for it.")
    name_vi: str = Field(description="Its name in the Circular.")
    name_en: str = Field(description="Its name in English.")
    required: bool = Field(description="False for the 'if any' elements (8, 9).")
    present: bool = Field(description="Whether the lot has it.")
    source: str | None = Field(description="Where it comes from: table.column, or a chain.")
    value: str | None = Field(description="What was found, shortened for display.")
    problem: str | None = Field(description="What is missing and how to fill it in.")


class LotCheck(BaseModel):
    """The 10 elements for one lot."""

    gtin: str = Field(description="GTIN-14 of the lot's product.")
    lot: str = Field(description="The lot (GS1 AI 10).")
    elements: list[ElementStatus] = Field(description="The 10 elements, in the Circular's order.")

    @property
    def missing_required(self) -> list[str]:
        """One line per required element the lot lacks: its name and what to do."""
        return [
            f"{status.number} {status.name_en} ({status.name_vi}): {status.problem}"
            for status in self.elements
            if status.required and not status.present
        ]

    @property
    def complete(self) -> bool:
        return not self.missing_required


class LotNotFound(NotFound):
    """Central knows neither events nor a batch for this GTIN and lot."""


def parse_lot_key(text: str) -> tuple[str, str]:
    """``GTIN/LOT`` -> (GTIN-14, lot); InvalidCode naming what is wrong."""
    gtin, slash, lot = text.partition("/")
    if not slash or not lot:
        raise InvalidCode(f"{text!r} is not GTIN/LOT (e.g. 08938500000010/L2611)")
    return gtin14(gtin), valid_lot(lot)


def traceability_code(gtin: str, lot: str) -> str:
    """The lot's traceability code in GS1 element-string form: (01) GTIN-14 (10) lot."""
    return f"(01){gtin}(10){lot}"


def missing_required(connection: Connection, gtin: str, lot: str) -> list[str]:
    """The required elements this lot lacks, one line each (empty: the lot may be sent).

    The relay's gate before a Vietnamese target: an unknown lot lacks everything.
    """
    try:
        return check_lot(connection, gtin, lot).missing_required
    except LotNotFound as exc:
        return [str(exc)]


def check_lot(connection: Connection, gtin: str, lot: str) -> LotCheck:
    """Each of the 10 elements for (GTIN-14, lot); LotNotFound when central has neither."""
    product = _one(connection, sa.select(products).where(products.c.gtin == gtin))
    org = _one(connection, sa.select(producer))
    summary = _one(
        connection,
        sa.select(lot_summaries).where(lot_summaries.c.gtin == gtin, lot_summaries.c.lot == lot),
    )
    lot_batches = list(
        connection.execute(
            sa.select(batches)
            .where(batches.c.gtin == gtin, batches.c.lot == lot)
            .order_by(batches.c.started_at)
        ).mappings()
    )
    if summary is None and not lot_batches:
        raise LotNotFound(f"central has no events and no batch for lot {gtin}/{lot}")
    found: dict[str, ElementStatus] = {}
    for status in (
        *_product_elements(gtin, product),
        *_producer_elements(product, org),
        _stages(connection, gtin, lot),
        _production_time(connection, gtin, lot, lot_batches),
        _traceability_code(gtin, lot, summary, lot_batches),
        _brand_model_serial(product, summary),
        _expiry(connection, gtin, lot, lot_batches),
    ):
        found[status.key] = status
    return LotCheck(gtin=gtin, lot=lot, elements=[found[element.key] for element in ELEMENTS])


def _status(
    key: str,
    *,
    source: str | None = None,
    value: object = None,
    problem: str | None = None,
) -> ElementStatus:
    element = _BY_KEY[key]
    present = problem is None
    return ElementStatus(
        number=element.number,
        key=key,
        name_vi=element.name_vi,
        name_en=element.name_en,
        required=element.required,
        present=present,
        source=source,
        value=None if value is None or not present else _short(value),
        problem=problem,
    )


def _product_elements(gtin: str, product: RowMapping | None) -> list[ElementStatus]:
    if product is None:
        fix = f"no product master data for GTIN {gtin} (linetrace central product set {gtin} ...)"
        return [_status(key, problem=fix) for key in ("product_name", "product_image", "standards")]
    standards = list(product["standards"] or [])
    return [
        _status("product_name", source="products.name", value=product["name"]),
        _status(
            "product_image",
            source="products.image_url",
            value=product["image_url"],
            problem=None
            if product["image_url"]
            else f"products.image_url is empty (product set {gtin} --image-url URL)",
        ),
        _status(
            "standards",
            source="products.standards",
            value=", ".join(standards),
            problem=None
            if standards
            else f"products.standards is empty (product set {gtin} --standard TCVN ...)",
        ),
    ]


def _producer_elements(product: RowMapping | None, org: RowMapping | None) -> list[ElementStatus]:
    statuses = []
    for key, column, option in (
        ("producer_name", "name", "--name"),
        ("producer_address", "address", "--address"),
    ):
        own = product[f"producer_{column}"] if product is not None else None
        if own:
            statuses.append(_status(key, source=f"products.producer_{column}", value=own))
        elif org is not None and org[column]:
            statuses.append(_status(key, source=f"producer.{column}", value=org[column]))
        else:
            problem = (
                f"neither products.producer_{column} nor producer.{column} is set "
                f"(linetrace central producer set {option} ...)"
            )
            statuses.append(_status(key, problem=problem))
    return statuses


def _stages(connection: Connection, gtin: str, lot: str) -> ElementStatus:
    seen = connection.execute(
        sa.select(
            lot_station_summaries.c.site,
            lot_station_summaries.c.line,
            lot_station_summaries.c.station,
            lot_station_summaries.c.first_seen,
            stations.c.gln,
            locations.c.name,
        )
        .select_from(
            lot_station_summaries.outerjoin(
                stations,
                sa.and_(
                    stations.c.site == lot_station_summaries.c.site,
                    stations.c.line == lot_station_summaries.c.line,
                    stations.c.station == lot_station_summaries.c.station,
                ),
            ).outerjoin(locations, locations.c.gln == stations.c.gln)
        )
        .where(lot_station_summaries.c.gtin == gtin, lot_station_summaries.c.lot == lot)
        .order_by(lot_station_summaries.c.first_seen)
    ).all()
    source = "events -> stations.gln (AI 414) -> locations.name"
    if not seen:
        return _status("stages", source=source, problem="no reads of this lot are stored")
    problems, stages = [], []
    for row in seen:
        station = f"{row.site}/{row.line}/{row.station}"
        if row.gln is None:
            problems.append(
                f"station {station} has no GLN (linetrace central station register "
                f"{station} --gln GLN)"
            )
        elif row.name is None:
            problems.append(
                f"GLN {row.gln} of station {station} is not a known location (linetrace "
                f"central location set {row.gln} --name ... --address ...)"
            )
        else:
            stages.append(f"{station} at {row.gln} {row.name} from {_iso(row.first_seen)}")
    value = f"(01){gtin}; " + "; ".join(stages)
    return _status("stages", source=source, value=value, problem="; ".join(problems) or None)


def _production_time(
    connection: Connection, gtin: str, lot: str, lot_batches: list[RowMapping]
) -> ElementStatus:
    dated = [row["production_date"] for row in lot_batches if row["production_date"]]
    if dated:
        return _status("production_time", source="batches.production_date (AI 11)", value=dated[0])
    if lot_batches:
        return _status(
            "production_time", source="batches.started_at", value=_iso(lot_batches[0]["started_at"])
        )
    first = connection.execute(
        sa.select(sa.func.min(lot_station_summaries.c.first_seen)).where(
            lot_station_summaries.c.gtin == gtin, lot_station_summaries.c.lot == lot
        )
    ).scalar()
    if first is not None:
        return _status(
            "production_time", source="events.observed_at (first read)", value=_iso(first)
        )
    return _status(
        "production_time", problem="no batch and no read give a production time for this lot"
    )


def _traceability_code(
    gtin: str, lot: str, summary: RowMapping | None, lot_batches: list[RowMapping]
) -> ElementStatus:
    source = "events.gtin + events.lot (AI 01 + AI 10)" if summary else "batches.gtin + batches.lot"
    del lot_batches  # present either way: check_lot refuses a lot with neither
    return _status("traceability_code", source=source, value=traceability_code(gtin, lot))


def _brand_model_serial(product: RowMapping | None, summary: RowMapping | None) -> ElementStatus:
    parts, sources = [], []
    for column, label in (("brand", "brand"), ("model_code", "model")):
        if product is not None and product[column]:
            parts.append(f"{label} {product[column]}")
            sources.append(f"products.{column}")
    if summary is not None and summary["item_count"]:
        parts.append(f"{summary['item_count']} serialised items")
        sources.append("events.serial (AI 21)")
    if not parts:
        return _status(
            "brand_model_serial",
            problem="none set (optional: product set --brand/--model-code; serials from AI 21)",
        )
    return _status("brand_model_serial", source=", ".join(sources), value="; ".join(parts))


def _expiry(
    connection: Connection, gtin: str, lot: str, lot_batches: list[RowMapping]
) -> ElementStatus:
    dated = [row["expiry"] for row in lot_batches if row["expiry"]]
    if dated:
        return _status("expiry", source="batches.expiry (AI 17)", value=dated[0])
    read = connection.execute(
        sa.select(events.c.expiry)
        .where(events.c.gtin == gtin, events.c.lot == lot, events.c.expiry.is_not(None))
        .limit(1)
    ).scalar()
    if read:
        return _status(
            "expiry", source="events.expiry (AI 17 -> ilmd itemExpirationDate)", value=read
        )
    return _status("expiry", problem="none (optional: batch start --expiry, or AI 17 on the label)")


def _one(connection: Connection, statement: sa.Select[Any]) -> RowMapping | None:
    return connection.execute(statement).mappings().first()


def _iso(value: datetime) -> str:
    return value.isoformat()


# Values are for display; a long standards list or address stays readable in a table.
_VALUE_LIMIT = 300


def _short(value: object) -> str:
    text = str(value)
    return text if len(text) <= _VALUE_LIMIT else text[: _VALUE_LIMIT - 1] + "…"
