"""``linetrace central trace CODE | --lot LOT``: a code's or a lot's trace as JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``trace``."""
    trace = verbs.add_parser("trace", help="print the trace of a code, or of a lot, as JSON")
    add_config(trace)
    target = trace.add_mutually_exclusive_group(required=True)
    target.add_argument("code", nargs="?", metavar="CODE", help="HRI, element string, SSCC, URI")
    target.add_argument("--lot", help="trace this lot instead of a code")
    trace.add_argument("--gtin", help="with --lot: only this product's lot")
    trace.set_defaults(handler=_trace)


def _trace(args: argparse.Namespace) -> int:
    from linetrace.central.derive.codes import MalformedCode
    from linetrace.central.query.code_trace import CodeNotFound, trace_code
    from linetrace.central.query.lot_trace import LotNotFound, trace_lot
    from linetrace.central.query.trace_limits import MAX_ITEMS_PAGE
    from linetrace.errors import InvalidCode
    from linetrace.gs1 import gtin14

    if args.gtin and not args.lot:
        return refuse(args, "--gtin goes with --lot", status=2)
    try:
        gtin = gtin14(args.gtin) if args.gtin else None
    except InvalidCode as exc:
        return refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        if args.lot:
            print(
                trace_lot(connection, args.lot, gtin, items_limit=MAX_ITEMS_PAGE).model_dump_json(
                    indent=2
                )
            )
        else:
            print(trace_code(connection, args.code).model_dump_json(indent=2))

    try:
        return in_database(args, work)
    except MalformedCode as exc:
        return refuse(args, str(exc), status=2)
    except (CodeNotFound, LotNotFound) as exc:
        return refuse(args, str(exc))
