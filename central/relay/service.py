"""The relay as a running thing: one worker thread per enabled target, in one process.

:class:`Relay` is what ``linetrace central relay run`` runs in the foreground and what
the supervised child of ``linetrace central run`` runs (:mod:`.process`). Each target's
worker has its own thread, so a target that is down (waiting on timeouts) never holds
up another.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
from collections.abc import Callable

from sqlalchemy.engine import Engine

from linetrace.central.relay.settings import RelaySettings, TargetSettings
from linetrace.central.relay.targets import Target, open_target
from linetrace.central.relay.worker import TargetWorker

__all__ = ["Relay", "worker_id"]

log = logging.getLogger(__name__)

# Joining a worker thread at stop: a round in flight finishes its sends (bounded by the
# target's timeout); past this the claims it holds lapse with their lease instead.
STOP_JOIN_S = 10.0


def worker_id() -> str:
    """This process's name on its claims: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:64]}:{os.getpid()}:{secrets.token_hex(4)}"


class Relay:
    """Workers for every enabled target of ``settings``."""

    def __init__(
        self,
        engine: Engine,
        settings: RelaySettings,
        *,
        opener: Callable[[TargetSettings], Target] = open_target,
        worker: str | None = None,
    ) -> None:
        self.worker_id = worker or worker_id()
        self._stop = threading.Event()
        self.workers = [
            TargetWorker(engine, settings, target, opener(target), self.worker_id)
            for target in settings.targets
            if target.enabled
        ]
        self._threads = [
            threading.Thread(target=w.run, args=(self._stop,), name=f"relay-{w.name}", daemon=True)
            for w in self.workers
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()
        log.info("relay %s sending to %s", self.worker_id, ", ".join(w.name for w in self.workers))

    def stop(self) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(STOP_JOIN_S)
        for worker in self.workers:
            worker.close()

    def wait(self, timeout: float | None = None) -> bool:
        """Block until stopped (or ``timeout``); True once stopped."""
        return self._stop.wait(timeout)

    def request_stop(self) -> None:
        self._stop.set()
