"""The relay as a supervised child process of ``linetrace central run``.

Why a process and not a thread of the service: building documents (mapping, CBV hash,
JSON) costs tens of microseconds of CPU per event, i.e. a sizeable share of a core at
thousands of events a second, and in the service process that work would queue behind
the same GIL as the ingest's writer thread and the API, stretching the ingest's commit
latency (its p99). In a child it has a core of its own; the two meet only in the
database (the queue). The child opens its own database engine and HTTP clients.

The parent starts the child (spawn: nothing inherited but the settings), restarts it
after a backoff when it dies, and stops it by closing the pipe between them. A child
whose parent is killed sees the pipe close and exits; its claims lapse after the lease
and another worker sends those events.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import threading
import time
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import TYPE_CHECKING

from linetrace.backoff import Backoff
from linetrace.logs import configure_logging

if TYPE_CHECKING:
    from linetrace.central.config import CentralSettings

__all__ = ["RelayProcess", "relay_main", "start_relay"]

log = logging.getLogger(__name__)

# As for the ingest's receiver: 1 s doubling to 30 s while the child keeps dying soon
# after its start; a minute alive counts as healthy.
RESTART_MIN_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
HEALTHY_AFTER_S = 60.0
# A stopping child finishes the round in flight (bounded by the targets' timeouts).
CHILD_EXIT_TIMEOUT_S = 15.0
_CONTEXT = multiprocessing.get_context("spawn")


def relay_main(database_url: str, settings_json: str, link: Connection) -> None:
    """The child: run the relay until the pipe to the parent closes or says stop."""
    import os
    import signal

    from linetrace.central.relay.service import Relay
    from linetrace.central.relay.settings import RelaySettings
    from linetrace.central.store import open_engine

    # The parent stops the child in order (pipe), after the ingest: a SIGTERM sent to the
    # whole cgroup by systemd must not cut a delivery short here.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    configure_logging(os.environ.get("LINETRACE_LOG_LEVEL", "INFO"))
    settings = RelaySettings.model_validate_json(settings_json)
    engine = open_engine(database_url)
    relay = Relay(engine, settings)
    relay.start()
    try:
        while True:
            try:
                if link.recv() == "stop":
                    break
            except (EOFError, OSError):
                break
    finally:
        relay.stop()
        engine.dispose()


class RelayProcess:
    """The supervised relay child and the thread that watches it."""

    def __init__(self, database_url: str, settings_json: str) -> None:
        self._args = (database_url, settings_json)
        self._stopping = threading.Event()
        self._link: Connection | None = None
        self._process: BaseProcess | None = None
        self._thread = threading.Thread(target=self._supervise, name="central-relay", daemon=True)

    @property
    def pid(self) -> int | None:
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        link = self._link
        if link is not None:
            with contextlib.suppress(OSError):
                link.send("stop")
        process = self._process
        if process is not None:
            process.join(CHILD_EXIT_TIMEOUT_S)
            if process.is_alive():
                log.warning("relay process %s did not exit; killing it", process.pid)
                process.kill()
                process.join(CHILD_EXIT_TIMEOUT_S)
        self._thread.join(CHILD_EXIT_TIMEOUT_S)

    def _supervise(self) -> None:
        backoff = Backoff(RESTART_MIN_DELAY_S, RESTART_MAX_DELAY_S)
        while not self._stopping.is_set():
            started = time.monotonic()
            link, child_link = _CONTEXT.Pipe()
            process = _CONTEXT.Process(
                target=relay_main, args=(*self._args, child_link), name="central-relay",
                daemon=True,
            )  # fmt: skip
            process.start()
            child_link.close()
            self._link, self._process = link, process
            log.info("relay process %s started", process.pid)
            process.join()
            if self._stopping.is_set():
                return
            if time.monotonic() - started >= HEALTHY_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            log.error(
                "relay process %s exited with %s; starting another in %.1f s",
                process.pid, process.exitcode, delay,
            )  # fmt: skip
            link.close()
            if self._stopping.wait(delay):
                return


def start_relay(settings: CentralSettings) -> RelayProcess | None:
    """Start the relay child for ``central run``; None when no target is enabled or
    ``relay.run`` is off (the relay then runs elsewhere: ``linetrace central relay run``)."""
    relay = settings.relay
    if not relay.run or not any(target.enabled for target in relay.targets):
        return None
    process = RelayProcess(settings.database_url, relay.model_dump_json())
    process.start()
    return process
