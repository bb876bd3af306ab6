"""``linetrace central events``: stored events as JSON lines, newest first."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, positive, settings_of, short_reason

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, Engine

    from linetrace.central.query.events import Cursor, EventQuery

__all__ = ["register"]


# The page size the ``events`` verb asks for when walking all pages: the API's maximum.
_EVENTS_PAGE = 1000


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``events``."""
    events = verbs.add_parser("events", help="print stored events as JSON lines, newest first")
    add_config(events)
    events.add_argument("--station", help="only this station, SITE/LINE/STATION")
    events.add_argument("--code", help="exact raw text, GTIN, SSCC, lot or serial")
    events.add_argument(
        "--limit", type=positive, default=100, help="most events to print (default 100)"
    )
    events.set_defaults(handler=_events)

    event = verbs.add_parser("event", help="act on one stored event: retract")
    actions = event.add_subparsers(dest="action", required=True, metavar="ACTION")
    retract = actions.add_parser(
        "retract",
        help="send an EPCIS ErrorDeclaration of the event to every target that has it "
        "(nothing is deleted)",
    )
    add_config(retract)
    retract.add_argument("event_id", metavar="EVENT_ID", help="the stored event's id (UUID)")
    retract.add_argument("--reason", required=True, help="why the event is wrong")
    retract.set_defaults(handler=_retract)


def _events(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings is None:
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.broker.contract.topics import StationId, TopicError
    from linetrace.central.query.events import EventQuery
    from linetrace.central.store import open_engine

    try:
        station = StationId.parse(args.station) if args.station else None
    except TopicError as exc:
        print(f"linetrace central events: --station: {exc}", file=sys.stderr)
        return 2
    engine = open_engine(settings.database_url)
    try:
        _print_events(engine, EventQuery(station=station, code=args.code), args.limit)
    except SQLAlchemyError as exc:
        print(
            f"linetrace central events: {short_reason(exc)} (run: linetrace central migrate)",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    return 0


def _print_events(engine: Engine, filters: EventQuery, limit: int) -> None:
    """Walk the pages until ``limit`` events are printed or none are left."""
    from dataclasses import replace

    from linetrace.central.query.events import find_events

    remaining = limit
    cursor: Cursor | None = None
    while remaining > 0:
        query = replace(filters, limit=min(remaining, _EVENTS_PAGE), cursor=cursor)
        with engine.connect() as connection:
            page = find_events(connection, query)
        for event in page.events:
            print(json.dumps(event.to_json(), ensure_ascii=False))
        remaining -= len(page.events)
        if page.next_cursor is None or not page.events:
            return
        cursor = page.events[-1].cursor


def _retract(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime
    from uuid import UUID

    import sqlalchemy as sa

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.cli.common import in_database, refuse
    from linetrace.central.relay.queue import queue_retractions
    from linetrace.central.store import events

    try:
        event_id = UUID(args.event_id)
    except ValueError:
        return refuse(args, f"{args.event_id!r} is not an event id (a UUID)", status=2)
    queued: list[str] = []
    found: list[bool] = []

    def work(connection: Connection) -> None:
        stored = connection.execute(
            sa.select(events.c.event_id).where(events.c.event_id == event_id)
        ).first()
        found.append(stored is not None)
        if stored is not None:
            queued.extend(queue_retractions(connection, event_id, args.reason, datetime.now(UTC)))
            record(
                connection,
                actor=cli_actor(),
                action="event.retract",
                target=f"event/{event_id}",
                details={"reason": args.reason, "targets": queued},
            )

    status = in_database(args, work)
    if status != 0:
        return status
    if not found[0]:
        return refuse(args, f"no stored event {event_id}")
    if queued:
        print(f"retraction of {event_id} queued for {', '.join(queued)}")
    else:
        print(f"no target has {event_id} (or its retraction is queued already): nothing to send")
    return 0
