"""``linetrace central audit verify | list``: prove the audit log untouched, and read it.

``verify`` walks the whole chain (streamed) and prints ``intact: N records``, or names the
first broken record and what differs, with exit status 1. ``list`` prints records as JSON
lines, newest first.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, positive, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def _aware(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an ISO 8601 time, e.g. 2026-03-01T08:00:00+07:00"
        ) from None
    if value.tzinfo is None:
        raise argparse.ArgumentTypeError(f"{text!r} needs a UTC offset, e.g. +07:00")
    return value


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``audit verify | list``."""
    audit = verbs.add_parser("audit", help="the hash-chained audit log of human and token actions")
    actions = audit.add_subparsers(dest="action", required=True, metavar="ACTION")
    verify = actions.add_parser(
        "verify", help="prove the chain untouched, or name its first broken record (exit 1)"
    )
    add_config(verify)
    verify.set_defaults(handler=_verify)
    listing = actions.add_parser("list", help="print records as JSON lines, newest first")
    add_config(listing)
    listing.add_argument("--since", type=_aware, help="at or after this time (with offset)")
    listing.add_argument("--until", type=_aware, help="before this time (with offset)")
    listing.add_argument("--actor", help="only this actor (account, token or cli:<user>)")
    listing.add_argument("--action", help="only this action; 'batch.' for every batch action")
    listing.add_argument("--target", help="only this target, e.g. batch/12")
    listing.add_argument("--limit", type=positive, default=100, help="most records (100)")
    listing.set_defaults(handler=_list)


def _verify(args: argparse.Namespace) -> int:
    import sqlalchemy as sa

    from linetrace.central.audit.verify import Verdict, verify_chain
    from linetrace.central.store.audit_tables import AUDIT_CHAIN, audit_head
    from linetrace.progress import progress

    verdicts: list[Verdict] = []

    def work(connection: Connection) -> None:
        total = connection.execute(
            sa.select(audit_head.c.last_id).where(audit_head.c.chain == AUDIT_CHAIN)
        ).scalar_one_or_none()
        with progress("verifying", total=total, unit="records") as bar:
            verdicts.append(verify_chain(connection, progress=lambda _id: bar.advance()))

    status = in_database(args, work)
    if status or not verdicts:
        return status or 1
    verdict = verdicts[0]
    print(verdict.message(), file=sys.stdout if verdict.intact else sys.stderr)
    return 0 if verdict.intact else 1


def _list(args: argparse.Namespace) -> int:
    from linetrace.central.audit.listing import MAX_AUDIT_PAGE, AuditQuery, find_records

    if args.limit > MAX_AUDIT_PAGE:
        return refuse(args, f"--limit: at most {MAX_AUDIT_PAGE}", status=2)
    query = AuditQuery(args.since, args.until, args.actor, args.action, args.target, args.limit, 0)

    def work(connection: Connection) -> None:
        for found in find_records(connection, query).records:
            print(json.dumps(found.to_json(), ensure_ascii=False))

    return in_database(args, work)
