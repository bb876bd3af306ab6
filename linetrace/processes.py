"""Starting and stopping the child processes of a local stack (the demo, the system tests).

Children run in their own process groups so a Ctrl-C at the terminal reaches only the
supervisor, which then stops them in order: edge first (so it stops producing), then
central (so it commits what it received), then the broker (a
:class:`~linetrace.broker.mosquitto.local.LocalBroker`, started and stopped the same way).
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

__all__ = ["STOP_GRACE_S", "Child", "linetrace_argv", "stop_all", "wait_for_port"]

logger = logging.getLogger(__name__)

# How long a child gets to stop after SIGTERM before it is killed: long enough for central
# to commit its last batch and for the edge to hand its outbox to the broker.
STOP_GRACE_S = 15.0


@dataclass
class Child:
    """One supervised process and the log file its output goes to."""

    name: str
    argv: list[str]
    log_path: Path
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self._log = self.log_path.open("ab")
        logger.info("starting %s: %s", self.name, " ".join(self.argv))
        self.process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
            self.argv,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **self.env},
            start_new_session=True,
        )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self, grace_s: float = STOP_GRACE_S) -> int | None:
        """SIGTERM, wait up to ``grace_s``, then SIGKILL. Returns the exit code."""
        code: int | None = None
        if self.process is not None:
            if self.process.poll() is None:
                self.process.send_signal(signal.SIGTERM)
                try:
                    self.process.wait(timeout=grace_s)
                except subprocess.TimeoutExpired:
                    logger.warning("%s did not stop in %.0f s; killing it", self.name, grace_s)
                    self.process.kill()
                    self.process.wait()
            code = self.process.returncode
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    def tail(self, lines: int = 20) -> str:
        """The end of the child's log, for error messages."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])


def linetrace_argv(*args: str) -> list[str]:
    """The command line that runs ``linetrace ARGS`` with this interpreter."""
    return [sys.executable, "-m", "linetrace", *args]


def wait_for_port(host: str, port: int, timeout_s: float, child: Child | None = None) -> None:
    """Block until something accepts TCP connections on host:port."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None and not child.running:
            raise RuntimeError(f"{child.name} exited early:\n{child.tail()}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise TimeoutError(f"nothing listens on {host}:{port} after {timeout_s:.0f} s")


def stop_all(children: Sequence[Child]) -> None:
    """Stop children in the order given."""
    for child in children:
        code = child.stop()
        logger.info("%s stopped (exit code %s)", child.name, code)
