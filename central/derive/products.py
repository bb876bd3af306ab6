"""Product master data, keyed by GTIN: what a trace shows about the product itself.

Circular 02/2024/TT-BKHCN asks every traceability record to carry the product's name and
image, the producer's name and address, the brand and model code, and the standards
applied; these are the same for every item of a product, so they are kept once here and
joined into the traces by GTIN. A GTIN is stored as GTIN-14 (the form the events carry), whichever length it was
given in, and only with a valid check digit. A product's producer fields are for goods
made by someone else: left empty, the organisation's own (:mod:`.master_data`) applies.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field, HttpUrl
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.trace_tables import products
from linetrace.gs1 import valid_gln

__all__ = [
    "MAX_PRODUCTS_PAGE",
    "Product",
    "ProductData",
    "get_product",
    "list_products",
    "put_product",
]

# A page of a thousand products is a few hundred kilobytes: a whole catalogue of a
# typical plant in one or two requests, and still bounded.
MAX_PRODUCTS_PAGE = 1000


def _gln(text: str) -> str:
    return valid_gln(text)


_Text = Annotated[str, Field(min_length=1, max_length=500)]


# pydantic's HttpUrl limit, checked on the text it is given, not on the text it keeps.
_MAX_URL_LENGTH = 2083


def _stored_url(url: HttpUrl) -> HttpUrl:
    """The URL as stored (normalised: percent-encoded, a path added) must still be one
    ``HttpUrl`` reads back, or the product could be stored and never served again."""
    if len(str(url)) > _MAX_URL_LENGTH:
        raise ValueError(f"image_url is longer than {_MAX_URL_LENGTH} characters once normalised")
    return url


class ProductData(BaseModel):
    """The master data of one product, as an operator sets it (everything but the GTIN)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: str = Field(min_length=1, max_length=200, description="Product name, as labelled.")
    image_url: Annotated[HttpUrl, AfterValidator(_stored_url)] | None = Field(
        default=None, description="Public URL of a product image (the portal requires one)."
    )
    producer_name: _Text | None = Field(
        default=None, description="Name of the producer or trader responsible for the product."
    )
    producer_address: _Text | None = Field(
        default=None, description="Address of the producer or trader."
    )
    producer_gln: Annotated[str, AfterValidator(_gln)] | None = Field(
        default=None, description="GS1 GLN (13 digits) identifying the producer."
    )
    unit: Annotated[str, Field(min_length=1, max_length=32)] | None = Field(
        default=None, description="Unit the product is counted in, e.g. box, bottle, KGM."
    )
    standards: list[Annotated[str, Field(min_length=1, max_length=200)]] = Field(
        default_factory=list,
        max_length=50,
        description="Standards applied: TCVN, QCVN, international, regional or in-house.",
    )
    description: Annotated[str, Field(max_length=5000)] | None = Field(
        default=None, description="Free description: ingredients, warnings."
    )
    brand: Annotated[str, Field(min_length=1, max_length=200)] | None = Field(
        default=None, description="Brand or trademark (Thương hiệu, nhãn hiệu), if any."
    )
    model_code: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(
        default=None, description="Model code or mark (mã ký hiệu), if any."
    )


class Product(ProductData):
    """A stored product: its GTIN-14, its master data, and when it was set."""

    gtin: str = Field(description="GTIN-14 of the product.")
    created_at: AwareDatetime = Field(description="When the product was first set.")
    updated_at: AwareDatetime = Field(description="When its master data last changed.")


def put_product(connection: Connection, gtin: str, data: ProductData) -> tuple[Product, bool]:
    """Set the master data of ``gtin`` (GTIN-14), replacing what was there; True if new.

    One ``INSERT ... ON CONFLICT DO UPDATE``, so two operators setting a new product at
    once both succeed (the later one wins) instead of one failing on the primary key.
    """
    now = datetime.now(UTC)
    values = _columns(data)
    insert = dialect_insert(connection, products).values(
        gtin=gtin, **values, created_at=now, updated_at=now
    )
    statement = insert.on_conflict_do_update(
        index_elements=[products.c.gtin], set_={**values, "updated_at": now}
    ).returning(*products.c)
    row = connection.execute(statement).mappings().one()
    product = _product(row)
    return product, product.created_at == now


def get_product(connection: Connection, gtin: str) -> Product | None:
    """The product with this GTIN-14, or None."""
    row = connection.execute(sa.select(products).where(products.c.gtin == gtin)).mappings()
    found = row.first()
    return None if found is None else _product(found)


def list_products(
    connection: Connection, *, after: str | None = None, limit: int = 100
) -> list[Product]:
    """Products in GTIN order, starting after the GTIN ``after`` (the previous page's last)."""
    statement = sa.select(products).order_by(products.c.gtin).limit(limit)
    if after is not None:
        statement = statement.where(products.c.gtin > after)
    return [_product(row) for row in connection.execute(statement).mappings()]


def _columns(data: ProductData) -> dict[str, Any]:
    values = data.model_dump()
    values["image_url"] = str(data.image_url) if data.image_url is not None else None
    return values


def _product(row: RowMapping) -> Product:
    return Product.model_validate(dict(row))
