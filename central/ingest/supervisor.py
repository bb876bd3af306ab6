"""The parent's end of the receiver process: start it, read its pipe, restart it when it dies.

One thread (``central-ingest-receiver``) starts the child, reads everything it sends and
hands it to the ingest (:class:`ReceiverEvents`); when the pipe closes without a stop
request the child died, and the same thread starts another after a backoff. Messages the
dead child had forwarded stay queued and are committed; the broker resends them to the
new connection because nobody acknowledged them, and the idempotent insert stores them
once.

Sending to the child (acknowledgements, publications, drain and stop requests) goes
through :meth:`ReceiverProcess.send` from any thread; a lock keeps messages whole.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from linetrace.backoff import Backoff
from linetrace.central.ingest.receiver import (
    Received,
    ReceiverConfig,
    ReceiverCounts,
    State,
    receiver_main,
)

__all__ = ["ReceiverEvents", "ReceiverProcess"]

log = logging.getLogger(__name__)
child_log = logging.getLogger("linetrace.central.ingest.receiver")

# A child that died is started again after 1 s, doubling to 30 s while it keeps dying
# soon after its start (a crash loop should not spin a core); one that lived a minute
# counts as healthy and the next restart is quick again.
RESTART_MIN_DELAY_S = 1.0
RESTART_MAX_DELAY_S = 30.0
HEALTHY_AFTER_S = 60.0
# A child that has not exited this long after the stop request (it waits for paho's
# network thread, which sends the last acknowledgements) is terminated.
CHILD_EXIT_TIMEOUT_S = 5.0
# Spawn, not fork: a forked child would inherit the parent's threads' locks, its database
# connections and its sockets; a spawned one imports only the receiver module.
_CONTEXT = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class ReceiverEvents:
    """What the receiver's thread tells the ingest, called on that thread."""

    on_batch: Callable[[list[Received], ReceiverCounts], None]
    on_state: Callable[[State, int], None]
    on_counts: Callable[[ReceiverCounts], None]
    on_child_gone: Callable[[], None]


class ReceiverProcess:
    """The supervised receiver child and the thread that reads from it."""

    def __init__(self, config_for: Callable[[int], ReceiverConfig], events: ReceiverEvents) -> None:
        self._config_for = config_for
        self._events = events
        self._send_lock = threading.Lock()
        self._link: Connection | None = None
        self._process: BaseProcess | None = None
        self._incarnation = 0
        self._stopping = threading.Event()
        self._drained = threading.Event()
        self._thread = threading.Thread(target=self._supervise, name="central-ingest-receiver")

    @property
    def pid(self) -> int | None:
        """The child's process id while one runs (benchmarks add its CPU time)."""
        process = self._process
        return process.pid if process is not None and process.is_alive() else None

    def start(self) -> None:
        self._thread.start()

    def send(self, message: tuple[Any, ...]) -> bool:
        """Send to the current child; False when none runs or its pipe is closed."""
        with self._send_lock:
            link = self._link
            if link is None:
                return False
            try:
                link.send(message)
            except OSError:
                return False
            return True

    def drain(self, timeout: float) -> bool:
        """Ask the child to stop forwarding and flush; True once all it forwarded is read."""
        self._stopping.set()
        if not self.send(("drain",)):
            self._drained.set()
        return self._drained.wait(timeout)

    def stop(self, timeout: float) -> None:
        """Tell the child to acknowledge what it was sent and exit; wait for it and the thread."""
        self._stopping.set()
        self.send(("stop",))
        self._thread.join(timeout + CHILD_EXIT_TIMEOUT_S)
        process = self._process
        if process is not None and process.is_alive():
            log.warning("receiver process %s did not exit; terminating it", process.pid)
            process.kill()
            process.join(CHILD_EXIT_TIMEOUT_S)

    # -- the receiver thread ------------------------------------------------------------------

    def _supervise(self) -> None:
        backoff = Backoff(RESTART_MIN_DELAY_S, RESTART_MAX_DELAY_S)
        while True:
            started = time.monotonic()
            self._run_child()
            self._events.on_child_gone()
            if self._stopping.is_set():
                self._drained.set()
                return
            if time.monotonic() - started >= HEALTHY_AFTER_S:
                backoff.reset()
            delay = backoff.next_delay()
            log.error("the receiver process died; starting another in %.1f s", delay)
            if self._stopping.wait(delay):
                self._drained.set()
                return

    def _run_child(self) -> None:
        """Start a child and read from it until its pipe closes."""
        self._incarnation += 1
        link, child_link = _CONTEXT.Pipe()
        process = _CONTEXT.Process(
            target=receiver_main,
            args=(self._config_for(self._incarnation), child_link),
            name="central-receiver",
            # Ended with the parent's normal exit too; a killed parent closes the pipe,
            # which the child notices and exits.
            daemon=True,
        )
        process.start()
        child_link.close()  # else the child's exit would not close the pipe here
        with self._send_lock:
            self._link, self._process = link, process
        log.info("receiver process %s started", process.pid)
        try:
            self._read(link)
        finally:
            with self._send_lock:
                self._link = None
            link.close()
            process.join(CHILD_EXIT_TIMEOUT_S)
            if process.exitcode not in (0, None):
                log.warning("receiver process %s exited with %s", process.pid, process.exitcode)

    def _read(self, link: Connection) -> None:
        events = self._events
        while True:
            try:
                message = link.recv()
            except (EOFError, OSError):
                return
            kind = message[0]
            if kind == "batch":
                events.on_batch(message[1], message[2])
            elif kind == "state":
                events.on_state(message[1], message[2])
            elif kind == "counts":
                events.on_counts(message[1])
            elif kind == "drained":
                events.on_counts(message[1])
                self._drained.set()
            elif kind == "log":
                child_log.log(message[1], "%s", message[2])
