"""``linetrace broker add-bridge`` and ``linetrace broker bridge``: a site bridged to central.

Two steps on two machines: ``add-bridge`` on the central broker makes the site's bridge
account and prints its credentials as JSON (like ``add-service``); ``bridge`` on the site
broker reads that file and writes the bridge into the site broker's ``conf.d/``.
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from pydantic import ValidationError

from linetrace.broker import mosquitto
from linetrace.broker.mosquitto import bridge

__all__ = ["register"]

logger = logging.getLogger(__name__)


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``add-bridge`` and ``bridge`` to ``linetrace broker``."""
    account = verbs.add_parser(
        "add-bridge", help="on the central broker: create a site's bridge user (idempotent)"
    )
    account.add_argument("directory", type=Path, metavar="DIR", help="central broker directory")
    account.add_argument("site", metavar="SITE")
    account.add_argument("--rotate", action="store_true", help="replace the password")
    account.set_defaults(handler=_add_bridge)

    link = verbs.add_parser(
        "bridge", help="on a site broker: bridge it to the central broker (restart to apply)"
    )
    link.add_argument("directory", type=Path, metavar="DIR", help="site broker directory")
    link.add_argument("--site", required=True, metavar="SITE", help="the site's id")
    link.add_argument(
        "--remote", required=True, metavar="HOST[:PORT]", help="central broker (port 8883)"
    )
    link.add_argument(
        "--credentials",
        required=True,
        type=Path,
        metavar="FILE",
        help="the JSON `linetrace broker add-bridge` printed on the central broker",
    )
    link.add_argument("--tls-ca", type=Path, help="CA certificate that signed central's broker")
    link.add_argument("--tls-cert", type=Path, help="client certificate, if central asks for one")
    link.add_argument("--tls-key", type=Path, help="its private key")
    link.add_argument(
        "--no-tls",
        action="store_true",
        help="plain MQTT (the password in clear): only over a link that is private already",
    )
    link.add_argument("--name", default="central", help="connection name (%(default)s)")
    link.add_argument(
        "--restart-timeout",
        type=int,
        nargs=2,
        default=[bridge.RESTART_BASE_S, bridge.RESTART_CAP_S],
        metavar=("BASE", "CAP"),
        help="reconnect backoff in seconds (%(default)s)",
    )
    link.set_defaults(handler=_bridge)


def _add_bridge(args: argparse.Namespace) -> int:
    try:
        credentials = bridge.add_bridge(args.directory, args.site, rotate=args.rotate)
    except mosquitto.BrokerError as exc:
        logger.error("%s", exc)
        return 1
    sys.stdout.write(credentials.model_dump_json() + "\n")
    sys.stdout.flush()
    if not mosquitto.reload_running(args.directory):
        logger.info(
            "no running broker for %s: the user is active from its next start", args.directory
        )
    return 0


def _bridge(args: argparse.Namespace) -> int:
    if args.no_tls == (args.tls_ca is not None):
        logger.error("give --tls-ca (the bridge crosses sites: TLS), or --no-tls on a private link")
        return 2
    try:
        credentials = mosquitto.Credentials.model_validate_json(args.credentials.read_bytes())
    except (OSError, ValidationError) as exc:
        logger.error("credentials file %s cannot be read: %s", args.credentials, exc)
        return 1
    tls = None
    if args.tls_ca is not None:
        tls = bridge.BridgeTls(ca=args.tls_ca, cert=args.tls_cert, key=args.tls_key)
    try:
        path = bridge.write_bridge(
            args.directory,
            site=args.site,
            remote=bridge.Remote.parse(args.remote, tls=tls is not None),
            credentials=credentials,
            tls=tls,
            name=args.name,
            restart_s=(args.restart_timeout[0], args.restart_timeout[1]),
        )
    except mosquitto.BrokerError as exc:
        logger.error("%s", exc)
        return 1
    if mosquitto.running_pid(args.directory) is not None:
        logger.warning("Mosquitto reads bridges at start only: restart the site broker")
    logger.info("wrote %s", path)
    return 0
