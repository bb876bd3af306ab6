"""``linetrace central producer set | show`` and ``linetrace central location set | list``:
the organisation and the named places behind the stations' GLNs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``producer set | show`` and ``location set | list``."""
    producer = verbs.add_parser("producer", help="the producer: the organisation on the portal")
    producer_actions = producer.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = producer_actions.add_parser("set", help="set the producer (replaces it)")
    add_config(put)
    put.add_argument("--name", required=True, help="registered name of the producer or trader")
    put.add_argument("--address", required=True, help="its registered address")
    put.add_argument("--gln", help="GS1 GLN (13 digits) of the organisation")
    put.add_argument("--tax-code", help="tax code (MST): 10 digits, or 10-3 for a branch")
    put.set_defaults(handler=_producer_set)
    show = producer_actions.add_parser("show", help="print the producer as JSON")
    add_config(show)
    show.set_defaults(handler=_producer_show)

    location = verbs.add_parser("location", help="named places behind the stations' GLNs")
    location_actions = location.add_subparsers(dest="action", required=True, metavar="ACTION")
    put = location_actions.add_parser("set", help="set a location (replaces it)")
    add_config(put)
    put.add_argument("gln", metavar="GLN", help="GS1 GLN (13 digits) of the place")
    put.add_argument("--name", required=True, help="name of the place")
    put.add_argument("--address", required=True, help="its address")
    put.add_argument(
        "--kind",
        default="factory",
        help="what it is: factory (default), warehouse, transport, agent, store, farm",
    )
    put.set_defaults(handler=_location_set)
    listing = location_actions.add_parser("list", help="print the locations as JSON lines")
    add_config(listing)
    listing.set_defaults(handler=_location_list)


def _producer_set(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.master_data import ProducerData, put_producer

    try:
        data = ProducerData(
            name=args.name, address=args.address, gln=args.gln, tax_code=args.tax_code
        )
    except ValidationError as exc:
        return refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        found, created = put_producer(connection, data)
        record(
            connection,
            actor=cli_actor(),
            action="producer.create" if created else "producer.update",
            target="producer",
            details=data.model_dump(mode="json"),
        )
        print(found.model_dump_json())

    return in_database(args, work)


def _producer_show(args: argparse.Namespace) -> int:
    from linetrace.central.derive.master_data import get_producer

    missing = []

    def work(connection: Connection) -> None:
        found = get_producer(connection)
        if found is None:
            missing.append(True)
        else:
            print(found.model_dump_json())

    status = in_database(args, work)
    if status == 0 and missing:
        return refuse(args, "the producer has not been set (linetrace central producer set)")
    return status


def _location_set(args: argparse.Namespace) -> int:
    from pydantic import ValidationError

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.derive.master_data import LocationData, put_location
    from linetrace.errors import InvalidCode
    from linetrace.gs1 import valid_gln

    try:
        gln = valid_gln(args.gln)
        data = LocationData(name=args.name, address=args.address, kind=args.kind)
    except (InvalidCode, ValidationError) as exc:
        return refuse(args, str(exc), status=2)

    def work(connection: Connection) -> None:
        found, created = put_location(connection, gln, data)
        record(
            connection,
            actor=cli_actor(),
            action="location.create" if created else "location.update",
            target=f"location/{gln}",
            details=data.model_dump(mode="json"),
        )
        print(found.model_dump_json())

    return in_database(args, work)


def _location_list(args: argparse.Namespace) -> int:
    from linetrace.central.derive.master_data import MAX_LOCATIONS_PAGE, list_locations

    def work(connection: Connection) -> None:
        after: str | None = None
        while page := list_locations(connection, after=after, limit=MAX_LOCATIONS_PAGE):
            for found in page:
                print(found.model_dump_json())
            after = page[-1].gln

    return in_database(args, work)
