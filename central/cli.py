"""``linetrace central run | migrate | events | station ... | dead-letters ...``.

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
    from collections.abc import Callable

    from sqlalchemy.engine import Connection, Engine

    from linetrace.broker.contract.topics import StationId
    from linetrace.central.config import CentralSettings
    from linetrace.central.stations import Station
    from linetrace.central.store import Cursor, EventQuery, StoredDeadLetter

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

    _register_station_verbs(verbs)
    _register_dead_letter_verbs(verbs)
    _register_trace_verbs(verbs)


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

    from linetrace.broker.contract.topics import StationId, TopicError
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


# --- stations ------------------------------------------------------------------------------


def _register_station_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    station = verbs.add_parser("station", help="the stations central takes events from")
    actions = station.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a station, or update and enable it")
    _add_config(add)
    add.add_argument("station", metavar="SITE/LINE/STATION")
    add.add_argument("--gln", help="GS1 GLN (13 digits) of the station's location")
    add.add_argument("--role", help="what the station does, e.g. pack or palletise")
    add.set_defaults(handler=_station_add)

    disable = actions.add_parser("disable", help="refuse a station's events from now on")
    _add_config(disable)
    disable.add_argument("station", metavar="SITE/LINE/STATION")
    disable.set_defaults(handler=_station_disable)

    enable = actions.add_parser("enable", help="take a disabled station's events again")
    _add_config(enable)
    enable.add_argument("station", metavar="SITE/LINE/STATION")
    enable.set_defaults(handler=_station_enable)

    listing = actions.add_parser("list", help="print the stations and their seq progress")
    _add_config(listing)
    listing.set_defaults(handler=_station_list)


def _station_add(args: argparse.Namespace) -> int:
    from linetrace.central.stations import StationError, register_station
    from linetrace.central.store import open_engine

    settings = _settings(args)
    station = _station_arg(args.station)
    if settings is None or station is None:
        return 2
    if not _migrated(settings):
        return 1
    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            registered = register_station(
                connection, station, gln=args.gln, role=args.role, registered_by="cli"
            )
    except StationError as exc:
        print(f"linetrace central station add: {exc}", file=sys.stderr)
        return 2
    finally:
        engine.dispose()
    print(json.dumps(_station_json(registered)))
    return 0


def _station_disable(args: argparse.Namespace) -> int:
    station = _station_arg(args.station)
    if station is None:
        return 2
    return _station_set_enabled(
        args,
        station,
        False,
        f"{station} disabled: its events are dead-lettered until "
        f"'linetrace central station enable {station}'",
    )


def _station_enable(args: argparse.Namespace) -> int:
    from linetrace.central.stations import disabled_reason_prefix

    station = _station_arg(args.station)
    if station is None:
        return 2
    prefix = disabled_reason_prefix(station)
    return _station_set_enabled(
        args,
        station,
        True,
        f"{station} enabled: its events are taken in again; to take in those refused "
        f"meanwhile: linetrace central dead-letters replay --reason-prefix '{prefix}'",
    )


def _station_set_enabled(
    args: argparse.Namespace, station: StationId, enabled: bool, done: str
) -> int:
    from linetrace.central.stations import set_enabled

    found: list[bool] = []
    status = _in_database(
        args, lambda connection: found.append(set_enabled(connection, station, enabled))
    )
    if status:
        return status
    if not found[0]:
        return _refuse(args, f"{station} is not registered (add it: linetrace central station add)")
    print(done)
    return 0


def _station_list(args: argparse.Namespace) -> int:
    from linetrace.central.progress import all_progress, open_gaps
    from linetrace.central.stations import list_stations

    def work(connection: Connection) -> None:
        progress = all_progress(connection)
        for station in list_stations(connection):
            line = _station_json(station)
            own = progress.get(station.id)
            line["watermark"] = own.watermark if own else 0
            line["max_seq_seen"] = own.max_seq_seen if own else 0
            gaps = open_gaps(connection, own) if own else []
            line["open_gaps"] = [[gap.first, gap.last] for gap in gaps]
            print(json.dumps(line))

    return _in_database(args, work)


def _station_arg(text: str) -> StationId | None:
    from linetrace.broker.contract.topics import StationId, TopicError

    try:
        return StationId.parse(text)
    except TopicError as exc:
        print(f"linetrace central station: {exc}", file=sys.stderr)
        return None


def _station_json(station: Station) -> dict[str, object]:
    return {
        "station": str(station.id),
        "gln": station.gln,
        "role": station.role,
        "enabled": station.enabled,
        "registered_at": station.registered_at.isoformat(),
        "registered_by": station.registered_by,
    }


# --- dead letters --------------------------------------------------------------------------


def _register_dead_letter_verbs(
    verbs: argparse._SubParsersAction[argparse.ArgumentParser],
) -> None:
    letters = verbs.add_parser("dead-letters", help="the refused messages and their replay")
    actions = letters.add_subparsers(dest="action", required=True, metavar="ACTION")

    replay = actions.add_parser(
        "replay",
        help="take in the dead letters that are valid now (e.g. after registering a station)",
    )
    _add_config(replay)
    replay.add_argument(
        "--reason-prefix",
        metavar="TEXT",
        help="only those whose reason starts with TEXT, e.g. 'unknown station'",
    )
    replay.set_defaults(handler=_dead_letters_replay)

    listing = actions.add_parser("list", help="print dead letters as JSON lines, newest first")
    _add_config(listing)
    listing.add_argument("--reason-prefix", metavar="TEXT", help="only reasons starting with TEXT")
    listing.add_argument("--all", action="store_true", help="also those a replay has taken in")
    listing.add_argument(
        "--limit", type=_positive, default=100, help="most to print (default 100, at most 1000)"
    )
    listing.set_defaults(handler=_dead_letters_list)


def _dead_letters_replay(args: argparse.Namespace) -> int:
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.batch import StoreUnavailable
    from linetrace.central.replay import replay_dead_letters
    from linetrace.central.store import open_engine

    settings = _settings(args)
    if settings is None:
        return 2
    if not _migrated(settings):
        return 1
    engine = open_engine(settings.database_url)
    try:
        report = replay_dead_letters(
            engine,
            reason_prefix=args.reason_prefix,
            auto_register=settings.ingest.auto_register_stations,
        )
    except (SQLAlchemyError, StoreUnavailable) as exc:
        print(f"linetrace central dead-letters replay: {_reason(exc)}", file=sys.stderr)
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
    from linetrace.central.store import MAX_PAGE_SIZE, find_dead_letters

    def work(connection: Connection) -> None:
        page = find_dead_letters(
            connection,
            reason_prefix=args.reason_prefix,
            include_replayed=args.all,
            limit=min(args.limit, MAX_PAGE_SIZE),
        )
        for letter in page.letters:
            print(json.dumps(_dead_letter_json(letter), ensure_ascii=False))

    return _in_database(args, work)


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


# --- products, batches, traces -------------------------------------------------------------


def _register_trace_verbs(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    product = verbs.add_parser("product", help="product master data, keyed by GTIN")
    product_actions = product.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = product_actions.add_parser("set", help="set a product's master data (replaces it)")
    _add_config(put)
    put.add_argument("gtin", metavar="GTIN", help="GTIN-8, -12, -13 or -14")
    put.add_argument("--name", required=True, help="product name, as labelled")
    put.add_argument("--image-url", help="public URL of a product image")
    put.add_argument("--producer", help="producer or trader name")
    put.add_argument("--producer-address", help="producer or trader address")
    put.add_argument("--producer-gln", help="GS1 GLN (13 digits) of the producer")
    put.add_argument("--unit", help="unit the product is counted in, e.g. box")
    put.add_argument(
        "--standard", action="append", default=[], help="an applied standard (repeatable)"
    )
    put.add_argument("--description", help="free description")
    put.set_defaults(handler=_product_set)
    products = product_actions.add_parser("list", help="print the products as JSON lines")
    _add_config(products)
    products.set_defaults(handler=_product_list)

    batch = verbs.add_parser("batch", help="production batches of the lines")
    batch_actions = batch.add_subparsers(dest="action", required=True, metavar="ACTION")
    start = batch_actions.add_parser(
        "start", help="start a batch on a line (the running central announces it within seconds)"
    )
    _add_config(start)
    start.add_argument("line", metavar="SITE/LINE")
    start.add_argument("--gtin", required=True, help="GTIN of the product packed")
    start.add_argument("--lot", required=True, help="lot / batch number (AI 10)")
    start.add_argument("--expiry", metavar="YYYY-MM-DD", help="expiry date (AI 17)")
    start.add_argument("--production-date", metavar="YYYY-MM-DD", help="production date")
    start.add_argument("--target", type=_positive, help="items planned")
    start.add_argument("--order", help="ERP production order id")
    start.set_defaults(handler=_batch_start)
    close = batch_actions.add_parser("close", help="close an open batch")
    _add_config(close)
    close.add_argument("batch_id", type=_positive, metavar="ID")
    close.set_defaults(handler=_batch_close)
    listing = batch_actions.add_parser("list", help="print batches as JSON lines, newest first")
    _add_config(listing)
    listing.add_argument("--line", metavar="SITE/LINE", help="only this line")
    listing.add_argument("--state", choices=["open", "closed"], help="only open or closed ones")
    listing.set_defaults(handler=_batch_list)

    trace = verbs.add_parser("trace", help="print the trace of a code, or of a lot, as JSON")
    _add_config(trace)
    target = trace.add_mutually_exclusive_group(required=True)
    target.add_argument("code", nargs="?", metavar="CODE", help="HRI, element string, SSCC, URI")
    target.add_argument("--lot", help="trace this lot instead of a code")
    trace.add_argument("--gtin", help="with --lot: only this product's lot")
    trace.set_defaults(handler=_trace)

    summaries = verbs.add_parser("lot-summaries", help="the per-lot counts the lot trace reads")
    summary_actions = summaries.add_subparsers(dest="action", required=True, metavar="ACTION")
    rebuild = summary_actions.add_parser(
        "rebuild", help="recount lots from their stored events (after a derivation_failed alarm)"
    )
    _add_config(rebuild)
    which = rebuild.add_mutually_exclusive_group(required=True)
    which.add_argument("lots", nargs="*", default=[], metavar="LOT", help="the lots to recount")
    which.add_argument("--all", action="store_true", help="recount every lot")
    rebuild.set_defaults(handler=_lot_summaries_rebuild)


def _product_set(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.products import InvalidGtin, ProductData, gtin14, put_product

    try:
        gtin = gtin14(args.gtin)
        data = ProductData(
            name=args.name,
            image_url=args.image_url,
            producer_name=args.producer,
            producer_address=args.producer_address,
            producer_gln=args.producer_gln,
            unit=args.unit,
            standards=args.standard,
            description=args.description,
        )
    except (InvalidGtin, ValidationError) as exc:
        return _refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        product, _ = put_product(connection, gtin, data)
        print(product.model_dump_json())

    return _in_database(args, work)


def _product_list(args: argparse.Namespace) -> int:
    from linetrace.central.products import MAX_PRODUCTS_PAGE, list_products

    def work(connection: Connection) -> None:
        after: str | None = None
        while page := list_products(connection, after=after, limit=MAX_PRODUCTS_PAGE):
            for product in page:
                print(product.model_dump_json())
            after = page[-1].gtin

    return _in_database(args, work)


def _batch_start(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.batches import BatchError, BatchStart, start_batch

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
        return _refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        print(start_batch(connection, start).model_dump_json())

    try:
        return _in_database(args, work)
    except BatchError as exc:
        return _refuse(args, str(exc))


def _batch_close(args: argparse.Namespace) -> int:
    from linetrace.central.batches import BatchClosed, BatchNotFound, close_batch

    def work(connection: Connection) -> None:
        print(close_batch(connection, args.batch_id).model_dump_json())

    try:
        return _in_database(args, work)
    except (BatchNotFound, BatchClosed) as exc:
        return _refuse(args, str(exc))


def _batch_list(args: argparse.Namespace) -> int:
    from linetrace.broker.contract.topics import TopicError
    from linetrace.central.batches import MAX_BATCHES_PAGE, list_batches, parse_line

    try:
        line = parse_line(args.line) if args.line else None
    except TopicError as exc:
        return _refuse(args, f"--line: {exc}", status=2)

    def work(connection: Connection) -> None:
        found = list_batches(connection, line=line, state=args.state, limit=MAX_BATCHES_PAGE)
        for batch in found:
            print(batch.model_dump_json())

    return _in_database(args, work)


def _trace(args: argparse.Namespace) -> int:
    from linetrace.central.codes import MalformedCode
    from linetrace.central.products import InvalidGtin, gtin14
    from linetrace.central.traces import (
        MAX_ITEMS_PAGE,
        CodeNotFound,
        LotNotFound,
        trace_code,
        trace_lot,
    )

    if args.gtin and not args.lot:
        return _refuse(args, "--gtin goes with --lot", status=2)
    try:
        gtin = gtin14(args.gtin) if args.gtin else None
    except InvalidGtin as exc:
        return _refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        if args.lot:
            print(
                trace_lot(connection, args.lot, gtin, items_limit=MAX_ITEMS_PAGE).model_dump_json(
                    indent=2
                )
            )
        else:
            print(trace_code(connection, args.code).model_dump_json(indent=2))

    try:
        return _in_database(args, work)
    except MalformedCode as exc:
        return _refuse(args, str(exc), status=2)
    except (CodeNotFound, LotNotFound) as exc:
        return _refuse(args, str(exc))


def _lot_summaries_rebuild(args: argparse.Namespace) -> int:
    from linetrace.central.lotsummary import rebuild_lot_summaries

    def work(connection: Connection) -> None:
        rebuild_lot_summaries(connection, None if args.all else args.lots)
        print(f"rebuilt the summaries of {'every lot' if args.all else ', '.join(args.lots)}")

    return _in_database(args, work)


def _in_database(args: argparse.Namespace, work: Callable[[Connection], None]) -> int:
    """Run ``work`` in one transaction on the configured database; 1 if it is unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.store import open_engine

    settings = _settings(args)
    if settings is None:
        return 2
    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            work(connection)
    except SQLAlchemyError as exc:
        return _refuse(args, f"{_reason(exc)} (run: linetrace central migrate)")
    finally:
        engine.dispose()
    return 0


def _refuse(args: argparse.Namespace, message: str, *, status: int = 1) -> int:
    verb = " ".join(part for part in (args.verb, getattr(args, "action", None)) if part)
    print(f"linetrace central {verb}: {message}", file=sys.stderr)
    return status
