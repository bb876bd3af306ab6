"""``linetrace central dead-letters replay | list``: the refused messages and their replay."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from linetrace.central.cli.common import (
    add_config,
    in_database,
    migrated,
    positive,
    settings_of,
    short_reason,
)

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from linetrace.central.query.dead_letters import StoredDeadLetter

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``dead-letters replay | list``."""
    letters = verbs.add_parser("dead-letters", help="the refused messages and their replay")
    actions = letters.add_subparsers(dest="action", required=True, metavar="ACTION")

    replay = actions.add_parser(
        "replay",
        help="take in the dead letters that are valid now (e.g. after registering a station)",
    )
    add_config(replay)
    replay.add_argument(
        "--reason-prefix",
        metavar="TEXT",
        help="only those whose reason starts with TEXT, e.g. 'unknown station'",
    )
    replay.set_defaults(handler=_dead_letters_replay)

    listing = actions.add_parser("list", help="print dead letters as JSON lines, newest first")
    add_config(listing)
    listing.add_argument("--reason-prefix", metavar="TEXT", help="only reasons starting with TEXT")
    listing.add_argument("--all", action="store_true", help="also those a replay has taken in")
    listing.add_argument(
        "--limit", type=positive, default=100, help="most to print (default 100, at most 1000)"
    )
    listing.set_defaults(handler=_dead_letters_list)


def _dead_letters_replay(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.ingest.replay import replay_dead_letters
    from linetrace.central.ingest.write_batch import StoreUnavailable
    from linetrace.central.store import open_engine

    settings = settings_of(args)
    if settings is None:
        return 2
    if not migrated(settings):
        return 1
    engine = open_engine(settings.database_url)
    try:
        report = replay_dead_letters(
            engine,
            reason_prefix=args.reason_prefix,
            auto_register=settings.ingest.auto_register_stations,
            relay_targets=tuple(target.name for target in settings.relay.targets),
        )
        with engine.begin() as connection:
            record(
                connection,
                actor=cli_actor(),
                action="dead_letters.replay",
                target="dead-letters",
                details={
                    "reason_prefix": args.reason_prefix,
                    "examined": report.examined,
                    "stored": report.stored,
                },
            )
    except (SQLAlchemyError, StoreUnavailable) as exc:
        print(f"linetrace central dead-letters replay: {short_reason(exc)}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    print(
        f"{report.examined} dead letters examined: {report.stored} stored, "
        f"{report.already_stored} were stored already, "
        f"{sum(report.still_refused.values())} still refused"
    )
    for reason, count in report.still_refused.most_common():
        print(f"  {count} x {reason}")
    return 0


def _dead_letters_list(args: argparse.Namespace) -> int:
    from linetrace.central.query.dead_letters import find_dead_letters
    from linetrace.central.query.events import MAX_PAGE_SIZE

    def work(connection: Connection) -> None:
        page = find_dead_letters(
            connection,
            reason_prefix=args.reason_prefix,
            include_replayed=args.all,
            limit=min(args.limit, MAX_PAGE_SIZE),
        )
        for letter in page.letters:
            print(json.dumps(_dead_letter_json(letter), ensure_ascii=False))

    return in_database(args, work)


def _dead_letter_json(letter: StoredDeadLetter) -> dict[str, object]:
    return {
        "id": letter.id,
        "received_at": letter.received_at.isoformat(),
        "topic": letter.topic,
        "reason": letter.reason,
        "payload_size": letter.payload_size,
        "payload": letter.payload.decode("utf-8", errors="replace"),
        "replayed_at": letter.replayed_at.isoformat() if letter.replayed_at else None,
    }
