"""``linetrace portal sandbox``: a local stand-in for a relay target, in the foreground.

Prints one line ``sandbox PROFILE listening on URL`` (what scripts and tests wait for),
then the profile's limits and the schema in use, and serves until Ctrl-C or SIGTERM
(exit 0). Only argparse is imported to build the parser; the server's imports happen
when the verb runs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from linetrace.central.relay.sandbox.profiles import PROFILES

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``sandbox`` to the ``linetrace portal`` verbs."""
    sandbox = verbs.add_parser(
        "sandbox",
        help="run a local stand-in relay target (EPCIS repository or the national portal)",
        description=__doc__,
    )
    sandbox.add_argument("--profile", required=True, choices=sorted(PROFILES))
    sandbox.add_argument("--port", type=int, default=0, help="TCP port (default: a free one)")
    sandbox.add_argument("--host", default="127.0.0.1", help="address to bind (%(default)s)")
    sandbox.add_argument(
        "--schema",
        type=Path,
        help="GS1's EPCIS-JSON-Schema.json (default: $LINETRACE_EPCIS_SCHEMA; none: envelope only)",
    )
    sandbox.add_argument(
        "--faults",
        default="{}",
        metavar="JSON",
        help="fault plan, as POST /_sandbox/faults takes it, e.g. '{\"error_rate\": 0.1}'",
    )
    sandbox.add_argument("--seed", type=int, help="seed of the fault plan's random choices")
    sandbox.add_argument("--user", help="HTTP Basic user required by EPCIS profiles")
    sandbox.add_argument("--password", help="HTTP Basic password")
    sandbox.add_argument("--token", help="bearer token required by EPCIS profiles")
    sandbox.add_argument(
        "--job-running-s",
        type=float,
        default=0.0,
        help="how long an asynchronous capture job reads running: true (%(default)s)",
    )
    sandbox.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="a profile-specific setting (repeatable)",
    )
    sandbox.set_defaults(handler=_sandbox)


def _sandbox(args: argparse.Namespace) -> int:
    from linetrace.central.relay.sandbox.faults import FaultPlan
    from linetrace.central.relay.sandbox.profiles import build_profile
    from linetrace.central.relay.sandbox.server import make_state, serve_forever
    from linetrace.central.relay.sandbox.state import Auth
    from linetrace.errors import LinetraceError
    from linetrace.ports import free_port

    try:
        values = json.loads(args.faults)
        if args.seed is not None:
            values["seed"] = args.seed
        options: dict[str, object] = dict(_option(o) for o in args.option)
        state = make_state(
            args.profile,
            schema=args.schema,
            faults=FaultPlan.from_mapping(values),
            auth=Auth(args.user, args.password, args.token),
            job_running_s=args.job_running_s,
            options=options,
        )
        profile = build_profile(args.profile, state)
    except (LinetraceError, ValueError) as exc:
        print(f"linetrace portal sandbox: {exc}", file=sys.stderr)
        return 2
    port = args.port or free_port(args.host)
    url = f"http://{args.host}:{port}"
    print(f"sandbox {args.profile} listening on {url}", flush=True)
    for name, value in profile.limits().items():
        print(f"  {name}: {value}")
    schema = state.validator.source or "NONE (envelope checks only: pass --schema)"
    print(f"  schema: {schema} ({state.validator.engine})")
    print(f"  control: {url}/_sandbox/stats, POST {url}/_sandbox/faults", flush=True)
    serve_forever(state, profile, args.host, port)
    return 0


def _option(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise ValueError(f"--option {text!r} is not KEY=VALUE")
    return key, value
