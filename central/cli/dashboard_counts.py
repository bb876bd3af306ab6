"""``linetrace central dashboard-counts rebuild [--hours N]``: recount the dashboard's
per-station minute counts from the stored events (after a derivation_failed alarm)."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, positive

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dashboard-counts rebuild``."""
    counts = verbs.add_parser(
        "dashboard-counts", help="the per-station minute counts the dashboard reads"
    )
    actions = counts.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = actions.add_parser(
        "rebuild", help="recount recent minutes from the stored events (after a failed derivation)"
    )
    add_config(rebuild)
    rebuild.add_argument(
        "--hours",
        type=positive,
        default=2,
        metavar="N",
        help="recount the minutes of the last N hours (default 2; the dashboard shows 1)",
    )
    rebuild.set_defaults(handler=_rebuild)


def _rebuild(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime, timedelta

    from linetrace.central.derive.station_minutes import rebuild_minutes

    def work(connection: Connection) -> None:
        since = datetime.now(UTC) - timedelta(hours=args.hours)
        rows = rebuild_minutes(connection, since)
        print(f"recounted the last {args.hours} h of reads: {rows} station minutes")

    return in_database(args, work)
