"""``linetrace central lot-summaries rebuild``: recount lots from their stored events."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``lot-summaries rebuild``."""
    summaries = verbs.add_parser("lot-summaries", help="the per-lot counts the lot trace reads")
    summary_actions = summaries.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = summary_actions.add_parser(
        "rebuild", help="recount lots from their stored events (after a derivation_failed alarm)"
    )
    add_config(rebuild)
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("lots", nargs="*", default=[], metavar="LOT", help="the lots to recount")
    which.add_argument("--all", action="store_true", help="recount every lot")
    rebuild.set_defaults(handler=_lot_summaries_rebuild)


def _lot_summaries_rebuild(args: argparse.Namespace) -> int:
    from linetrace.central.derive.lot_summaries import rebuild_lot_summaries
    from linetrace.progress import progress

    # Three tables per lot, or three set-based statements for every lot at once.
    steps = 3 * (1 if args.all else len(set(args.lots)))

    def work(connection: Connection) -> None:
        with progress("rebuilding lot summaries", total=steps, unit="steps") as bar:
            rebuild_lot_summaries(connection, None if args.all else args.lots, on_step=bar.advance)
        print(f"rebuilt the summaries of {'every lot' if args.all else ', '.join(args.lots)}")

    return in_database(args, work)
