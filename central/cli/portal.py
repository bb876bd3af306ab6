"""``linetrace central portal check --lot GTIN/LOT``: the 10 minimum elements of Circular
02/2024/TT-BKHCN for one lot, where each comes from, and what is missing.

Exit status 0 when every required element is there, 1 when one is missing (or the lot
is unknown), 2 for a malformed key: a script can gate a lot's release on it.
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, in_database, refuse

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from linetrace.central.relay.portal_check import LotCheck

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``portal check``."""
    portal = verbs.add_parser("portal", help="what the national traceability portal needs")
    actions = portal.add_subparsers(dest="action", required=True, metavar="ACTION")
    check = actions.add_parser(
        "check", help="list the Circular 02/2024 elements of a lot; exit 1 if one is missing"
    )
    add_config(check)
    check.add_argument("--lot", required=True, metavar="GTIN/LOT", help="e.g. 08938500000010/L2611")
    check.add_argument("--json", action="store_true", help="print the check as one JSON object")
    check.set_defaults(handler=_check)


def _check(args: argparse.Namespace) -> int:
    from linetrace.central.relay.portal_check import LotNotFound, check_lot, parse_lot_key
    from linetrace.errors import InvalidCode

    try:
        gtin, lot = parse_lot_key(args.lot)
    except InvalidCode as exc:
        return refuse(args, str(exc), status=2)
    outcome: list[LotCheck] = []
    unknown: list[str] = []

    def work(connection: Connection) -> None:
        try:
            outcome.append(check_lot(connection, gtin, lot))
        except LotNotFound as exc:
            unknown.append(str(exc))

    status = in_database(args, work)
    if status != 0:
        return status
    if unknown:
        return refuse(args, unknown[0])
    found = outcome[0]
    print(found.model_dump_json() if args.json else _table(found))
    if not found.complete:
        return refuse(args, "missing: " + " | ".join(found.missing_required))
    return 0


def _table(found: LotCheck) -> str:
    lines = [f"lot (01){found.gtin}(10){found.lot}"]
    for element in found.elements:
        mark = "ok" if element.present else ("MISSING" if element.required else "none")
        need = "required" if element.required else "if any"
        lines.append(f"{element.number:>2} {mark:<7} {element.name_en} [{need}]")
        lines.append(f"   {element.name_vi}")
        if element.present:
            lines.append(f"   from {element.source}: {element.value}")
        else:
            lines.append(f"   {element.problem}")
    return "\n".join(lines)
