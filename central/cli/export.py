"""``linetrace central export --lot GTIN/LOT --format epcis|csv [--out FILE]``: a lot's
events for an inspector, as one GS1 EPCIS 2.0 document (every event of the lot) or as
CSV (one row per event), streamed from the database page by page."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``export``."""
    export = verbs.add_parser("export", help="write a lot's events as an EPCIS document or CSV")
    add_config(export)
    export.add_argument(
        "--lot", required=True, metavar="GTIN/LOT", help="the lot, e.g. 08938500000010/L2611"
    )
    export.add_argument(
        "--format", choices=("epcis", "csv"), default="epcis", help="default: epcis"
    )
    export.add_argument("--out", type=Path, metavar="FILE", help="write here instead of stdout")
    export.set_defaults(handler=_export)


def _export(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.relay.epcis.lot_export import (
        LotHasNoEvents,
        count_lot_events,
        write_csv,
        write_epcis,
    )
    from linetrace.errors import InvalidCode
    from linetrace.gs1 import gtin14, valid_lot
    from linetrace.progress import progress, watched

    text_gtin, slash, text_lot = args.lot.partition("/")
    try:
        if not slash:
            raise InvalidCode(f"--lot {args.lot!r} must be GTIN/LOT")
        gtin, lot = gtin14(text_gtin), valid_lot(text_lot)
    except InvalidCode as exc:
        return refuse(args, str(exc), status=2)
    counted: list[int] = []
    partial = args.out.with_name(args.out.name + ".partial") if args.out is not None else None

    def write(connection: Connection, on_page: Callable[[int], None]) -> None:
        if args.format == "epcis":
            if partial is None:
                counted.append(
                    write_epcis(
                        connection,
                        gtin,
                        lot,
                        sys.stdout.buffer,
                        created=datetime.now(UTC),
                        on_page=on_page,
                    )
                )
                sys.stdout.buffer.flush()
            else:
                with partial.open("wb") as out:
                    counted.append(
                        write_epcis(
                            connection, gtin, lot, out, created=datetime.now(UTC), on_page=on_page
                        )
                    )
        elif partial is None:
            counted.append(write_csv(connection, gtin, lot, sys.stdout, on_page=on_page))
        else:
            with partial.open("w", encoding="utf-8", newline="") as out:
                counted.append(write_csv(connection, gtin, lot, out, on_page=on_page))

    def work(connection: Connection) -> None:
        # A bar only on a terminal: the count for its estimate is spared when piped.
        with progress("exporting", unit="events") as bar:
            if watched():
                bar.set_total(count_lot_events(connection, gtin, lot))
            write(connection, bar.advance)
        record(
            connection,
            actor=cli_actor(),
            action="lot.export",
            target=f"lot/{gtin}/{lot}",
            details={"format": args.format, "events": counted[0], "out": str(args.out or "-")},
        )

    try:
        status = in_database(args, work)
    except LotHasNoEvents as exc:
        if partial is not None:
            partial.unlink(missing_ok=True)
        return refuse(args, str(exc))
    if status == 0 and partial is not None and args.out is not None:
        partial.replace(args.out)  # a half-written file never carries the final name
        print(f"{counted[0]} events of lot {lot} written to {args.out}", file=sys.stderr)
    elif partial is not None:
        partial.unlink(missing_ok=True)
    return status
