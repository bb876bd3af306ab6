"""``linetrace central batch start | close | list``: production batches of the lines."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, positive, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``batch start | close | list``."""
    batch = verbs.add_parser("batch", help="production batches of the lines")
    batch_actions = batch.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = batch_actions.add_parser(
        "start", help="start a batch on a line (the running central announces it within seconds)"
    )
    add_config(start)
    start.add_argument("line", metavar="SITE/LINE")
    start.add_argument("--gtin", required=True, help="GTIN of the product packed")
    start.add_argument("--lot", required=True, help="lot / batch number (AI 10)")
    start.add_argument("--expiry", metavar="YYYY-MM-DD", help="expiry date (AI 17)")
    start.add_argument("--production-date", metavar="YYYY-MM-DD", help="production date")
    start.add_argument("--target", type=positive, help="items planned")
    start.add_argument("--order", help="ERP production order id")
    start.set_defaults(handler=_batch_start)
    close = batch_actions.add_parser("close", help="close an open batch")
    add_config(close)
    close.add_argument("batch_id", type=positive, metavar="ID")
    close.set_defaults(handler=_batch_close)
    listing = batch_actions.add_parser("list", help="print batches as JSON lines, newest first")
    add_config(listing)
    listing.add_argument("--line", metavar="SITE/LINE", help="only this line")
    listing.add_argument("--state", choices=["open", "closed"], help="only open or closed ones")
    listing.set_defaults(handler=_batch_list)


def _batch_start(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.production_batches import BatchError, BatchStart, start_batch

    try:
        start = BatchStart(
            line=args.line,
            gtin=args.gtin,
            lot=args.lot,
            expiry=args.expiry,
            production_date=args.production_date,
            target_quantity=args.target,
            production_order=args.order,
        )
    except ValidationError as exc:
        return refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        batch = start_batch(connection, start)
        record(
            connection,
            actor=cli_actor(),
            action="batch.start",
            target=f"batch/{batch.id}",
            details=start.model_dump(mode="json"),
        )
        print(batch.model_dump_json())

    try:
        return in_database(args, work)
    except BatchError as exc:
        return refuse(args, str(exc))


def _batch_close(args: argparse.Namespace) -> int:
    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.production_batches import BatchClosed, BatchNotFound, close_batch

    def work(connection: Connection) -> None:
        batch = close_batch(connection, args.batch_id)
        record(
            connection,
            actor=cli_actor(),
            action="batch.close",
            target=f"batch/{batch.id}",
            details={"line": batch.line, "lot": batch.lot, "gtin": batch.gtin},
        )
        print(batch.model_dump_json())

    try:
        return in_database(args, work)
    except (BatchNotFound, BatchClosed) as exc:
        return refuse(args, str(exc))


def _batch_list(args: argparse.Namespace) -> int:
    from linetrace.broker.contract.topics import TopicError
    from linetrace.central.derive.production_batches import (
        MAX_BATCHES_PAGE,
        list_batches,
        parse_line,
    )

    try:
        line = parse_line(args.line) if args.line else None
    except TopicError as exc:
        return refuse(args, f"--line: {exc}", status=2)

    def work(connection: Connection) -> None:
        found = list_batches(connection, line=line, state=args.state, limit=MAX_BATCHES_PAGE)
        for batch in found:
            print(batch.model_dump_json())

    return in_database(args, work)
