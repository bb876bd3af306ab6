"""``linetrace central events``: stored events as JSON lines, newest first."""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, positive, settings_of, short_reason

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

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
