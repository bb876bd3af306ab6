"""``linetrace central retention [--on DATE]`` and ``linetrace central retention archive
(--lot GTIN/LOT ... | --all-due) --to DIR``: what the retention rules let go, and letting it go;
``retention images``: no-read pictures past their own limits (:mod:`.images`).

The report prints one JSON line per lot (product, lot, expiry or last event, the day it may
be archived and why; :mod:`linetrace.central.query.retention`). Archiving writes each lot's
export to DIR, checks it on disk, then removes the lot's rows
(:mod:`linetrace.central.cli.archive`); a lot not yet due is refused, never removed.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse, settings_of
from linetrace.central.cli.images import add_images_action

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def _day(text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a date (YYYY-MM-DD)") from None


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``retention`` and ``retention archive``."""
    retention = verbs.add_parser(
        "retention", help="which lots the retention rules let go; archive them"
    )
    add_config(retention)
    retention.add_argument(
        "--on", type=_day, metavar="DATE", help="report as of this day (default: today)"
    )
    retention.add_argument("--due", action="store_true", help="list only the lots due")
    retention.set_defaults(handler=_report)
    actions = retention.add_subparsers(dest="action", metavar="ACTION")
    archive = actions.add_parser(
        "archive", help="export due lots to a folder, verify the files, then remove the lots"
    )
    # Not add_config: a subparser's default would hide a --config given before "archive".
    archive.add_argument("--config", type=Path, metavar="FILE", default=argparse.SUPPRESS)
    which = archive.add_mutually_exclusive_group(required=True)
    which.add_argument("--lot", action="append", metavar="GTIN/LOT", help="a lot (repeatable)")
    which.add_argument("--all-due", action="store_true", help="every lot due today")
    archive.add_argument("--to", type=Path, required=True, metavar="DIR", help="archive folder")
    archive.set_defaults(handler=_archive)
    add_images_action(actions)


def _report(args: argparse.Namespace) -> int:
    from linetrace.central.query.retention import lots_retention

    today = args.on or date.today()

    def work(connection: Connection) -> None:
        lots = lots_retention(connection)
        due = [lot for lot in lots if lot.due(today)]
        for lot in due if args.due else lots:
            print(json.dumps(lot.as_json(today), ensure_ascii=False))
        print(f"{len(due)} of {len(lots)} lots may be archived on {today}", file=sys.stderr)

    return in_database(args, work)


def _lots(args: argparse.Namespace) -> list[tuple[str, str]] | None:
    from linetrace.errors import InvalidCode
    from linetrace.gs1 import gtin14, valid_lot

    lots = []
    for text in args.lot:
        text_gtin, slash, text_lot = text.partition("/")
        try:
            if not slash:
                raise InvalidCode(f"--lot {text!r} must be GTIN/LOT")
            lots.append((gtin14(text_gtin), valid_lot(text_lot)))
        except InvalidCode as exc:
            refuse(args, str(exc), status=2)
            return None
    return lots


def _archive(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.cli.archive import archive_lot
    from linetrace.central.cli.common import short_reason
    from linetrace.central.query.retention import lots_retention
    from linetrace.central.store import open_engine
    from linetrace.errors import LinetraceError
    from linetrace.progress import progress

    settings = settings_of(args)
    if settings is None:
        return 2
    today = date.today()
    engine = open_engine(settings.database_url)
    failed = 0
    try:
        if args.all_due:
            with engine.connect() as connection:
                lots = [(r.gtin, r.lot) for r in lots_retention(connection) if r.due(today)]
        else:
            chosen = _lots(args)
            if chosen is None:
                return 2
            lots = chosen
        with progress("archiving", total=len(lots), unit="lots") as bar:
            for gtin, lot in lots:
                bar.advance()
                try:
                    done = archive_lot(engine, gtin, lot, args.to, today=today)
                except (LinetraceError, OSError) as exc:
                    failed += 1
                    refuse(args, f"{gtin}/{lot}: {exc}")
                    continue
                except SQLAlchemyError as exc:  # e.g. a conflict with a writer: nothing removed
                    failed += 1
                    refuse(args, f"{gtin}/{lot}: {short_reason(exc)}")
                    continue
                print(json.dumps(done.as_json(), ensure_ascii=False))
        print(f"archived {len(lots) - failed} of {len(lots)} lots to {args.to}", file=sys.stderr)
    except SQLAlchemyError as exc:
        return refuse(args, f"{short_reason(exc)} (run: linetrace central migrate)")
    finally:
        engine.dispose()
    return 1 if failed else 0
