"""``linetrace broker sessions``: central replicas' sessions at this broker, and removal.

``list`` prints the central replicas this broker knows (each may hold a session in
central's shared subscription) as JSON lines; ``remove`` ends a retired or renamed
replica's session, refusing (exit 1) when the replica turns out to be running.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from linetrace.broker.mosquitto import sessions
from linetrace.errors import BrokerError

logger = logging.getLogger(__name__)


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``linetrace broker sessions list|remove``."""
    parser = verbs.add_parser("sessions", help="central replicas' sessions at this broker")
    actions = parser.add_subparsers(dest="action", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="the central replicas that may hold a session")
    listing.add_argument("directory", type=Path, metavar="DIR")
    listing.set_defaults(handler=_list)

    remove = actions.add_parser("remove", help="end a retired replica's session now")
    remove.add_argument("directory", type=Path, metavar="DIR")
    remove.add_argument("replica", metavar="NAME", help="the replica's broker account")
    remove.add_argument(
        "--force", action="store_true", help="remove it even if the replica is running"
    )
    remove.add_argument(
        "--wait",
        type=float,
        default=sessions.DEFAULT_WAIT_S,
        metavar="SECONDS",
        help="how long a running replica has to take its session back (%(default)s)",
    )
    remove.set_defaults(handler=_remove)


def _list(args: argparse.Namespace) -> int:
    try:
        found = sessions.replicas(args.directory)
    except BrokerError as exc:
        logger.error("%s", exc)
        return 1
    for replica in found:
        sys.stdout.write(json.dumps({"replica": replica.username}) + "\n")
    return 0


def _remove(args: argparse.Namespace) -> int:
    try:
        removal = sessions.remove_session(
            args.directory, args.replica, force=args.force, wait_s=args.wait
        )
    except BrokerError as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write(
        json.dumps(
            {
                "replica": removal.replica,
                "had_session": removal.had_session,
                "online": removal.online,
                "removed": removal.removed,
            }
        )
        + "\n"
    )
    if removal.online:
        logger.error(
            "%s is running and took its session back; stop it first, or use --force",
            removal.replica,
        )
        return 1
    return 0
