"""The ``linetrace`` command: one verb group per part.

Each part registers its verbs from its own ``cli`` module and imports its heavy
dependencies only inside the handlers, so ``linetrace central`` runs on a server without
OpenCV and ``linetrace edge`` on an edge box without the database drivers.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from linetrace import __version__
from linetrace.errors import ConfigError
from linetrace.logs import FORMATS, configure_logging


def build_parser() -> argparse.ArgumentParser:
    from linetrace import demo
    from linetrace.broker import cli as broker_cli
    from linetrace.central import cli as central_cli
    from linetrace.central.relay.sandbox import cli as sandbox_cli
    from linetrace.edge.cli import parser as edge_cli
    from linetrace.synth import cli as synth_cli

    parser = argparse.ArgumentParser(
        prog="linetrace", description="Camera scanning and GS1 traceability for packing lines."
    )
    parser.add_argument("--version", action="version", version=f"linetrace {__version__}")
    parser.add_argument(
        "--log-level", default="INFO", choices=["DEBUG", "INFO", "WARNING", "ERROR"]
    )
    parser.add_argument(
        "--log-format",
        choices=FORMATS,
        help="text, or json: one JSON object a line (default: $LINETRACE_LOG_FORMAT, else text)",
    )
    parts = parser.add_subparsers(dest="part", required=True, metavar="PART")
    edge_cli.register(parts)
    central_cli.register(parts)
    broker_cli.register(parts)
    portal = parts.add_parser("portal", help="stand-in relay targets for tests and the demo")
    sandbox_cli.register(portal.add_subparsers(dest="verb", required=True, metavar="VERB"))
    synth_cli.register(parts)
    demo.register(parts)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        configure_logging(args.log_level, args.log_format)
    except ConfigError as exc:
        parser.error(str(exc))
    handler = getattr(args, "handler", None)
    if handler is None:
        parser.parse_args([*(argv or sys.argv[1:]), "--help"])
        return 2
    try:
        return int(handler(args))
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
