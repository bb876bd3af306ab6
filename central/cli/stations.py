"""``linetrace central station add | disable | enable | list``.

The stations central takes events from: registered, disabled, enabled, listed with progress.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, migrated, refuse, settings_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from linetrace.broker.contract.topics import StationId
    from linetrace.central.derive.stations import Station

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``station add | disable | enable | list``."""
    station = verbs.add_parser("station", help="the stations central takes events from")
    actions = station.add_subparsers(dest="action", required=True, metavar="ACTION")

    add = actions.add_parser("add", help="register a station, or update and enable it")
    add_config(add)
    add.add_argument("station", metavar="SITE/LINE/STATION")
    add.add_argument("--gln", help="GS1 GLN (13 digits) of the station's location")
    add.add_argument("--role", help="what the station does, e.g. pack or palletise")
    add.set_defaults(handler=_station_add)

    disable = actions.add_parser("disable", help="refuse a station's events from now on")
    add_config(disable)
    disable.add_argument("station", metavar="SITE/LINE/STATION")
    disable.set_defaults(handler=_station_disable)

    enable = actions.add_parser("enable", help="take a disabled station's events again")
    add_config(enable)
    enable.add_argument("station", metavar="SITE/LINE/STATION")
    enable.set_defaults(handler=_station_enable)

    listing = actions.add_parser("list", help="print the stations and their seq progress")
    add_config(listing)
    listing.set_defaults(handler=_station_list)


def _station_add(args: argparse.Namespace) -> int:
    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.stations import StationError, register_station
    from linetrace.central.store import open_engine

    settings = settings_of(args)
    station = _station_arg(args.station)
    if settings is None or station is None:
        return 2
    if not migrated(settings):
        return 1
    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            registered = register_station(
                connection, station, gln=args.gln, role=args.role, registered_by="cli"
            )
            record(
                connection,
                actor=cli_actor(),
                action="station.register",
                target=f"station/{station}",
                details={"gln": args.gln, "role": args.role},
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
    from linetrace.central.derive.stations import disabled_reason_prefix

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
    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.stations import set_enabled

    found: list[bool] = []

    def work(connection: Connection) -> None:
        found.append(set_enabled(connection, station, enabled))
        if found[0]:
            action = "station.enable" if enabled else "station.disable"
            record(connection, actor=cli_actor(), action=action, target=f"station/{station}")

    status = in_database(args, work)
    if status:
        return status
    if not found[0]:
        return refuse(args, f"{station} is not registered (add it: linetrace central station add)")
    print(done)
    return 0


def _station_list(args: argparse.Namespace) -> int:
    from linetrace.central.derive.progress import all_progress, open_gaps
    from linetrace.central.derive.stations import list_stations

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

    return in_database(args, work)


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
