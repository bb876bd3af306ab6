"""``linetrace central relay status | retry | run``: the portal relay from the shell.

``status`` prints the queue per target and per lot and each target's health as JSON;
``retry`` queues again what the targets rejected (once the cause is fixed); ``run`` runs
the relay worker in the foreground, alone (an instance whose ``central run`` has
``relay.run = false``, or a dedicated relay host), until SIGINT or SIGTERM.
"""

from __future__ import annotations

import argparse
import json
import sys

from linetrace.central.cli.common import add_config, in_database, migrated, refuse, settings_of

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``relay``."""
    relay = verbs.add_parser("relay", help="the portal relay: status, retry, run")
    actions = relay.add_subparsers(dest="action", required=True, metavar="ACTION")

    status = actions.add_parser("status", help="queued/sent/accepted/rejected per target and lot")
    add_config(status)
    status.add_argument("--lot", help="only this lot, GTIN/LOT or LOT")
    status.set_defaults(handler=_status)

    retry = actions.add_parser("retry", help="send again what the targets rejected")
    add_config(retry)
    retry.add_argument("--target", help="only this target")
    retry.add_argument("--lot", help="only this lot, GTIN/LOT or LOT")
    retry.set_defaults(handler=_retry)

    run = actions.add_parser("run", help="run the relay worker alone, in the foreground")
    add_config(run)
    run.set_defaults(handler=_run)


def _status(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from linetrace.central.relay.status import parse_lot, relay_status

    settings = settings_of(args)
    if settings is None:
        return 2
    gtin, lot = parse_lot(args.lot) if args.lot else (None, None)
    names = [target.name for target in settings.relay.targets]

    def work(connection: object) -> None:
        report = relay_status(
            connection,  # type: ignore[arg-type]
            datetime.now(UTC),
            targets=names,
            lot=lot,
            gtin=gtin,
        )
        print(json.dumps(report, default=str, indent=2))

    return in_database(args, work)


def _retry(args: argparse.Namespace) -> int:
    from datetime import UTC, datetime

    from linetrace.central.audit import cli_actor, record
    from linetrace.central.relay.queue import retry_rejected
    from linetrace.central.relay.status import parse_lot

    settings = settings_of(args)
    if settings is None:
        return 2
    names = {target.name for target in settings.relay.targets}
    if args.target is not None and args.target not in names:
        return refuse(args, f"no target {args.target!r} in the settings", status=2)
    gtin, lot = parse_lot(args.lot) if args.lot else (None, None)
    queued: list[int] = []

    def work(connection: object) -> None:
        queued.append(
            retry_rejected(
                connection,  # type: ignore[arg-type]
                datetime.now(UTC),
                target=args.target,
                lot=lot,
                gtin=gtin,
            )
        )
        record(
            connection,  # type: ignore[arg-type]
            actor=cli_actor(),
            action="relay.retry",
            target=f"relay/{args.target or '*'}",
            details={"lot": lot, "gtin": gtin, "queued": queued[0]},
        )

    status = in_database(args, work)
    if status == 0:
        print(f"{queued[0]} rejected events queued again")
    return status


def _run(args: argparse.Namespace) -> int:
    import signal

    from linetrace.central.relay.service import Relay
    from linetrace.central.store import open_engine
    from linetrace.errors import LinetraceError

    settings = settings_of(args)
    if settings is None:
        return 2
    if not any(target.enabled for target in settings.relay.targets):
        return refuse(args, "no enabled target in [[relay.targets]]", status=2)
    if not migrated(settings):
        return 1
    engine = open_engine(settings.database_url)
    try:
        relay = Relay(engine, settings.relay)
    except LinetraceError as exc:
        engine.dispose()
        return refuse(args, str(exc))
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: relay.request_stop())
    relay.start()
    print(f"relay {relay.worker_id} running; stop with Ctrl-C", file=sys.stderr)
    try:
        relay.wait()
    finally:
        relay.stop()
        engine.dispose()
    return 0
