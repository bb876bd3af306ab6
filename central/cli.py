"""``linetrace central run | migrate | events``.

Only argparse at import time: the handlers import the database, MQTT and web modules
when they run, so ``linetrace edge`` never loads them.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from linetrace.central.config import CentralSettings
    from linetrace.central.store import Cursor, EventQuery

__all__ = ["register"]

log = logging.getLogger(__name__)

# The page size the ``events`` verb asks for when walking all pages: the API's maximum.
_EVENTS_PAGE = 1000


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``central`` part and its verbs to the ``linetrace`` command."""
    central = parts.add_parser("central", help="the central service: ingest, storage and API")
    verbs = central.add_subparsers(dest="verb", required=True, metavar="VERB")

    run = verbs.add_parser("run", help="migrate, then run the ingest and the API")
    _add_config(run)
    run.set_defaults(handler=_run)

    migrate = verbs.add_parser("migrate", help="bring the database schema up to date")
    _add_config(migrate)
    migrate.set_defaults(handler=_migrate)

    events = verbs.add_parser("events", help="print stored events as JSON lines, newest first")
    _add_config(events)
    events.add_argument("--station", help="only this station, SITE/LINE/STATION")
    events.add_argument("--code", help="exact raw text, GTIN, SSCC, lot or serial")
    events.add_argument(
        "--limit", type=_positive, default=100, help="most events to print (default 100)"
    )
    events.set_defaults(handler=_events)


def _add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML settings (environment overrides it)"
    )


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def _settings(args: argparse.Namespace) -> CentralSettings | None:
    from linetrace.central.config import ConfigError, load_settings

    try:
        return load_settings(args.config)
    except ConfigError as exc:
        print(f"linetrace central: {exc}", file=sys.stderr)
        return None


def _run(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    import uvicorn

    from linetrace.central.api import create_app

    if not _migrated(settings):
        return 1
    if settings.api.host in {"127.0.0.1", "::1", "localhost"}:
        log.info(
            "API binds to %s only: it has no accounts or roles yet, so it stays on localhost "
            "until they exist",
            settings.api.host,
        )
    else:
        log.warning("API binds to %s without authentication", settings.api.host)
    app = create_app(settings, run_ingest=True)
    # uvicorn turns SIGINT and SIGTERM into a graceful shutdown, which runs the lifespan's
    # exit: the ingest commits and acknowledges what it holds, then disconnects. It then
    # re-raises the signal, so the exit status says which signal ended the service.
    config = uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_config=None)
    uvicorn.Server(config).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    return 0 if _migrated(settings) else 1


def _migrated(settings: CentralSettings) -> bool:
    """Apply the migrations; on failure say why (without the password) and return False."""
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.store import redacted, upgrade

    url = redacted(settings.database_url)
    try:
        revision = upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        print(f"linetrace central: cannot migrate {url}: {_reason(exc)}", file=sys.stderr)
        return False
    print(f"{url} is at revision {revision}", file=sys.stderr)
    return True


def _reason(exc: BaseException) -> str:
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["error"])[0]


def _events(args: argparse.Namespace) -> int:
    settings = _settings(args)
    if settings is None:
        return 2
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.broker.topics import StationId, TopicError
    from linetrace.central.store import EventQuery, open_engine

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
            f"linetrace central events: {_reason(exc)} (run: linetrace central migrate)",
            file=sys.stderr,
        )
        return 1
    finally:
        engine.dispose()
    return 0


def _print_events(engine: Engine, filters: EventQuery, limit: int) -> None:
    """Walk the pages until ``limit`` events are printed or none are left."""
    from dataclasses import replace

    from linetrace.central.store import find_events

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
