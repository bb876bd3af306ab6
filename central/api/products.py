"""``GET/PUT /api/products``: product master data, keyed by GTIN.

A GTIN in the path may be given in any of its lengths (8, 12, 13 or 14 digits); it is
stored and returned as GTIN-14, and refused (422) when its check digit is wrong. ``PUT``
replaces the product's master data as a whole: a field left out becomes empty.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, HTTPException, Path, Query, Request, Response, status
from pydantic import BaseModel, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import allow
from linetrace.central.auth.roles import Permission
from linetrace.central.derive.products import (
    MAX_PRODUCTS_PAGE,
    Product,
    ProductData,
    get_product,
    list_products,
    put_product,
)
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14

__all__ = ["ProductPage", "router"]

router = APIRouter(prefix="/api", tags=["products"])

GtinPath = Annotated[str, Path(max_length=14, description="GTIN-8, -12, -13 or -14.")]


class ProductPage(BaseModel):
    products: list[Product] = Field(description="Products in GTIN order.")
    next_after: str | None = Field(
        description="Pass as ``after`` for the next page; null on the last page."
    )


@router.get(
    "/products",
    dependencies=[allow(Permission.VIEW)],
    response_model=ProductPage,
    responses=responses(422),
)
def get_products(
    engine: EngineDep,
    after: Annotated[
        str | None, Query(max_length=14, description="The last GTIN of the previous page.")
    ] = None,
    limit: Annotated[
        int, Query(ge=1, le=MAX_PRODUCTS_PAGE, description="Most products in this page.")
    ] = 100,
) -> ProductPage:
    with engine.connect() as connection:
        found = list_products(connection, after=after, limit=limit + 1)
    page = found[:limit]
    return ProductPage(products=page, next_after=page[-1].gtin if len(found) > limit else None)


@router.get(
    "/products/{gtin}",
    dependencies=[allow(Permission.VIEW)],
    response_model=Product,
    responses=responses(404, 422),
)
def get_one(gtin: GtinPath, engine: EngineDep) -> Product:
    key = _gtin(gtin)
    with engine.connect() as connection:
        product = get_product(connection, key)
    if product is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no product has GTIN {key}")
    return product


@router.put(
    "/products/{gtin}",
    dependencies=[allow(Permission.ADMINISTER)],
    response_model=Product,
    responses={201: {"model": Product, "description": "Created."}, **responses(400, 422)},
)
def put_one(
    gtin: GtinPath, data: ProductData, engine: EngineDep, response: Response, request: Request
) -> Product:
    key = _gtin(gtin)
    with engine.begin() as connection:
        product, created = put_product(connection, key, data)
        record(
            connection,
            actor=actor_of(request),
            action="product.create" if created else "product.update",
            target=f"product/{key}",
            details=data.model_dump(mode="json"),
        )
    response.status_code = status.HTTP_201_CREATED if created else status.HTTP_200_OK
    return product


def _gtin(text: str) -> str:
    try:
        return gtin14(text)
    except InvalidCode as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from None
