"""``linetrace central product set | list``: product master data, keyed by GTIN."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``product set | list``."""
    product = verbs.add_parser("product", help="product master data, keyed by GTIN")
    product_actions = product.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = product_actions.add_parser("set", help="set a product's master data (replaces it)")
    add_config(put)
    put.add_argument("gtin", metavar="GTIN", help="GTIN-8, -12, -13 or -14")
    put.add_argument("--name", required=True, help="product name, as labelled")
    put.add_argument("--image-url", help="public URL of a product image")
    put.add_argument("--producer", help="producer or trader name")
    put.add_argument("--producer-address", help="producer or trader address")
    put.add_argument("--producer-gln", help="GS1 GLN (13 digits) of the producer")
    put.add_argument("--unit", help="unit the product is counted in, e.g. box")
    put.add_argument(
        "--standard", action="append", default=[], help="an applied standard (repeatable)"
    )
    put.add_argument("--description", help="free description")
    put.add_argument("--brand", help="brand or trademark, if any")
    put.add_argument("--model-code", help="model code or mark, if any")
    put.set_defaults(handler=_product_set)
    products = product_actions.add_parser("list", help="print the products as JSON lines")
    add_config(products)
    products.set_defaults(handler=_product_list)


def _product_set(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.products import ProductData, put_product
    from linetrace.errors import InvalidCode
    from linetrace.gs1 import gtin14

    try:
        gtin = gtin14(args.gtin)
        data = ProductData(
            name=args.name,
            image_url=args.image_url,
            producer_name=args.producer,
            producer_address=args.producer_address,
            producer_gln=args.producer_gln,
            unit=args.unit,
            standards=args.standard,
            description=args.description,
            brand=args.brand,
            model_code=args.model_code,
        )
    except (InvalidCode, ValidationError) as exc:
        return refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        product, created = put_product(connection, gtin, data)
        record(
            connection,
            actor=cli_actor(),
            action="product.create" if created else "product.update",
            target=f"product/{gtin}",
            details=data.model_dump(mode="json"),
        )
        print(product.model_dump_json())

    return in_database(args, work)


def _product_list(args: argparse.Namespace) -> int:
    from linetrace.central.derive.products import MAX_PRODUCTS_PAGE, list_products

    def work(connection: Connection) -> None:
        after: str | None = None
        while page := list_products(connection, after=after, limit=MAX_PRODUCTS_PAGE):
            for product in page:
                print(product.model_dump_json())
            after = page[-1].gtin

    return in_database(args, work)
