"""``linetrace central run`` (the ingest and the API) and ``linetrace central migrate``."""

from __future__ import annotations

import argparse
import logging
import signal
from typing import TYPE_CHECKING

from linetrace.central.cli.common import add_config, migrated, settings_of

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import FrameType

    import uvicorn

__all__ = ["register"]


log = logging.getLogger(__name__)
GRACEFUL_SHUTDOWN_S = 5


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
    app = create_app(settings, run_ingest=True)
    config = uvicorn.Config(
        app,
        host=settings.api.host,
        port=settings.api.port,
        log_config=None,
        # Open live streams (GET /api/stream) would hold a stop for their whole life; the
        # pages reconnect by themselves, so a stop waits this long for them at most.
        timeout_graceful_shutdown=GRACEFUL_SHUTDOWN_S,
    )
    server = uvicorn.Server(config)
    # uvicorn turns SIGINT and SIGTERM into a graceful shutdown, which runs the lifespan's
    # exit: the ingest commits and acknowledges what it holds, then disconnects. It then
    # restores the handlers it found and re-raises the signal; with the default handlers
    # that would end a clean stop with status 143 (130 for SIGINT), which systemd counts
    # as a failure. The handlers below take that re-raised signal, so a clean stop exits
    # 0; one that arrives before uvicorn has taken the signals over stops it all the same.
    restore = _stop_on_signals(server)
    try:
        server.run()
    finally:
        restore()
    return 0


def _stop_on_signals(server: uvicorn.Server) -> Callable[[], None]:
    """Make SIGINT and SIGTERM ask ``server`` to stop; returns a function that undoes it."""

    def request_stop(_number: int, _frame: FrameType | None) -> None:
        server.should_exit = True

    stopping = (signal.SIGINT, signal.SIGTERM)
    previous = {number: signal.signal(number, request_stop) for number in stopping}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def _migrate(args: argparse.Namespace) -> int:
    settings = settings_of(args)
    if settings is None:
        return 2
    return 0 if migrated(settings) else 1
