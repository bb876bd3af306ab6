"""``linetrace central run`` (the ingest and the API) and ``linetrace central migrate``."""

from __future__ import annotations

import argparse
import logging

from linetrace.central.cli.common import add_config, migrated, settings_of

__all__ = ["register"]


log = logging.getLogger(__name__)


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``run`` and ``migrate``."""
    run = verbs.add_parser("run", help="migrate, then run the ingest and the API")
    add_config(run)
    run.set_defaults(handler=_run)

    migrate = verbs.add_parser("migrate", help="bring the database schema up to date")
    add_config(migrate)
    migrate.set_defaults(handler=_migrate)


def _run(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings is None:
        return 2
    import uvicorn

    from linetrace.central.api.app import create_app

    if not migrated(settings):
        return 1
    if settings.api.host in {"127.0.0.1", "::1", "localhost"}:
        log.info(
            "API binds to %s only: it has no accounts or roles yet, so it stays on localhost "
            "until they exist",
            settings.api.host,
        )
    else:
        log.warning("API binds to %s without authentication", settings.api.host)
    app = create_app(settings, run_ingest=True)
    # uvicorn turns SIGINT and SIGTERM into a graceful shutdown, which runs the lifespan's
    # exit: the ingest commits and acknowledges what it holds, then disconnects. It then
    # re-raises the signal, so the exit status says which signal ended the service.
    config = uvicorn.Config(app, host=settings.api.host, port=settings.api.port, log_config=None)
    uvicorn.Server(config).run()
    return 0


def _migrate(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings is None:
        return 2
    return 0 if migrated(settings) else 1
