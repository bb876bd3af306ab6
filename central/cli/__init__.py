"""``linetrace central run | migrate | events | station ... | dead-letters ... | product ...
| batch ... | trace | lot-summaries ... | dashboard-counts ... | retention ... | backup |
restore | audit ...``: one module per area, mirroring the API's routers.

In: the command line (and ``--config``). Out: JSON lines or a short report on stdout,
refusals on stderr with exit status 2 (bad input) or 1 (unusable database, refused
operation). Only argparse at import time: the handlers import the database, MQTT and
web modules when they run, so ``linetrace edge`` never loads them.
"""

from __future__ import annotations

import argparse

from linetrace.central.cli import (
    audit,
    backup,
    batches,
    dashboard_counts,
    dead_letters,
    events,
    export,
    lot_summaries,
    master_data,
    portal,
    products,
    relay,
    retention,
    run,
    stations,
    traces,
    users,
)

__all__ = ["register"]

# In the order ``linetrace central --help`` lists them.
_AREAS = (
    run,
    events,
    stations,
    dead_letters,
    products,
    master_data,
    batches,
    traces,
    lot_summaries,
    dashboard_counts,
    export,
    retention,
    backup,
    portal,
    relay,
    audit,
    users,
)


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``central`` part and its verbs to the ``linetrace`` command."""
    central = parts.add_parser("central", help="the central service: ingest, storage and API")
    verbs = central.add_subparsers(dest="verb", required=True, metavar="VERB")
    for area in _AREAS:
        area.register(verbs)
