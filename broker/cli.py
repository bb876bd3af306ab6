"""The ``linetrace broker`` verbs: set up, provision and run Mosquitto, keep the schema.

Credentials go to stdout as JSON so provisioning scripts can read them; everything else
goes to the log on stderr.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from linetrace.broker import bridge_cli, mosquitto, sessions_cli
from linetrace.broker.contract.messages import SCHEMA_PATH, write_schema
from linetrace.broker.contract.topics import StationId, TopicError

logger = logging.getLogger(__name__)


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``linetrace broker`` and its verbs."""
    broker = parts.add_parser("broker", help="set up, provision and run the MQTT broker")
    verbs = broker.add_subparsers(dest="verb", required=True, metavar="VERB")

    init = verbs.add_parser("init", help="create or update a broker directory")
    init.add_argument("directory", type=Path, metavar="DIR")
    init.add_argument(
        "--port", type=int, default=mosquitto.DEFAULT_PORT, help="plain MQTT port (%(default)s)"
    )
    init.add_argument("--bind", default="127.0.0.1", help="address of the plain listener")
    init.add_argument("--tls-ca", type=Path, help="CA certificate file (enables TLS)")
    init.add_argument("--tls-cert", type=Path, help="broker certificate file")
    init.add_argument("--tls-key", type=Path, help="broker private key file")
    init.add_argument(
        "--tls-port", type=int, default=mosquitto.DEFAULT_TLS_PORT, help="TLS port (%(default)s)"
    )
    init.add_argument(
        "--tls-bind",
        default="0.0.0.0",  # noqa: S104 - stations connect from the plant network
        help="address of the TLS listener",
    )
    init.add_argument(
        "--require-certificate",
        action="store_true",
        help="TLS clients must present a certificate signed by the CA",
    )
    init.add_argument(
        "--max-packet-kib",
        type=int,
        default=mosquitto.MAX_PACKET_KIB,
        help="largest MQTT packet accepted, in KiB (%(default)s)",
    )
    init.set_defaults(handler=_init)

    station = verbs.add_parser("add-station", help="create a station user (idempotent)")
    station.add_argument("directory", type=Path, metavar="DIR")
    station.add_argument("station", metavar="SITE/LINE/STATION")
    station.add_argument("--rotate", action="store_true", help="replace the password")
    station.set_defaults(handler=_add_station)

    service = verbs.add_parser("add-service", help="create a service user (idempotent)")
    service.add_argument("directory", type=Path, metavar="DIR")
    service.add_argument("name", metavar="NAME")
    service.add_argument("--role", default="central", choices=["central", "monitor"])
    service.add_argument("--rotate", action="store_true", help="replace the password")
    service.set_defaults(handler=_add_service)

    run = verbs.add_parser("run", help="run the broker in the foreground")
    run.add_argument("directory", type=Path, metavar="DIR")
    run.set_defaults(handler=_run)

    schema = verbs.add_parser("schema", help="regenerate the scan-event JSON Schema file")
    schema.add_argument("--check", action="store_true", help="exit 1 when the file is stale")
    schema.add_argument(
        "--file", type=Path, default=SCHEMA_PATH, help="schema file (default: the packaged one)"
    )
    schema.set_defaults(handler=_schema)

    bridge_cli.register(verbs)
    sessions_cli.register(verbs)


def _init(args: argparse.Namespace) -> int:
    tls_files = [args.tls_ca, args.tls_cert, args.tls_key]
    tls: mosquitto.TlsFiles | None = None
    if any(tls_files):
        if not all(tls_files):
            logger.error("TLS needs all of --tls-ca, --tls-cert and --tls-key")
            return 2
        tls = mosquitto.TlsFiles(
            ca=args.tls_ca,
            cert=args.tls_cert,
            key=args.tls_key,
            port=args.tls_port,
            bind=args.tls_bind,
            require_certificate=args.require_certificate,
        )
    try:
        broker = mosquitto.init_broker(
            args.directory,
            port=args.port,
            bind=args.bind,
            tls=tls,
            max_packet_kib=args.max_packet_kib,
        )
    except mosquitto.BrokerError as exc:
        logger.error("%s", exc)
        return 1
    if mosquitto.running_pid(broker.path) is not None:
        logger.info("the running broker reads its configuration at start: restart it to apply")
    return 0


def _add_station(args: argparse.Namespace) -> int:
    try:
        station = StationId.parse(args.station)
        credentials = mosquitto.add_station(args.directory, station, rotate=args.rotate)
    except (TopicError, mosquitto.BrokerError) as exc:
        logger.error("%s", exc)
        return 1
    return _announce(args.directory, credentials)


def _add_service(args: argparse.Namespace) -> int:
    try:
        credentials = mosquitto.add_service(
            args.directory, args.name, args.role, rotate=args.rotate
        )
    except mosquitto.BrokerError as exc:
        logger.error("%s", exc)
        return 1
    return _announce(args.directory, credentials)


def _announce(directory: Path, credentials: mosquitto.Credentials) -> int:
    """Print the credentials (a running broker has taken them already)."""
    sys.stdout.write(credentials.model_dump_json() + "\n")
    sys.stdout.flush()
    if mosquitto.running_pid(directory) is None:
        logger.info("no running broker for %s: the user is active from its next start", directory)
    return 0


def _run(args: argparse.Namespace) -> int:
    try:
        return mosquitto.run_broker(args.directory)
    except mosquitto.BrokerError as exc:
        logger.error("%s", exc)
        return 1


def _schema(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not args.check:
        write_schema(path)
        logger.info("wrote %s", path)
        return 0
    with tempfile.TemporaryDirectory() as scratch:
        fresh = write_schema(Path(scratch) / path.name).read_text()
    try:
        current = path.read_text()
    except FileNotFoundError:
        current = ""
    if current != fresh:
        sys.stderr.write(f"{path} is stale: regenerate it with `linetrace broker schema`\n")
        return 1
    logger.info("%s is up to date", path)
    return 0
