"""A throwaway Mosquitto for one run: the tests, the benchmarks and the demo start it here.

It runs the project's generated configuration (:func:`init_broker`), so what a test or a
benchmark measures is the broker a site runs, on a port of its own so that runs side by
side do not meet. Starting waits until Mosquitto has fully started, not only until it
listens; an account added while it runs is in force on return (the broker applied it).
"""

from __future__ import annotations

import re
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.accounts import add_service, add_station
from linetrace.broker.mosquitto.directory import Credentials, Role, init_broker
from linetrace.broker.mosquitto.process import broker_command
from linetrace.errors import BrokerError
from linetrace.ports import free_port

__all__ = [
    "BROKER_START_TIMEOUT_S",
    "BROKER_STOP_TIMEOUT_S",
    "LocalBroker",
    "free_port",
]

# Mosquitto starts in milliseconds; a slow CI box under load gets ample headroom.
BROKER_START_TIMEOUT_S = 10.0
# SIGTERM makes Mosquitto save its persistence file and exit at once.
BROKER_STOP_TIMEOUT_S = 5.0
# Between two looks at the log and the socket while waiting: short next to a start.
POLL_S = 0.02
# What Mosquitto logs once it has started, signal handlers included.
_RUNNING_LINE = re.compile(r"mosquitto version \S+ running$", re.MULTILINE)


@dataclass
class LocalBroker:
    """A Mosquitto with the project's generated config in ``directory``, on a port of its own.

    Use :meth:`create` to set up the directory, then :meth:`start` and :meth:`stop` (or
    ``with``). It runs in a session of its own, so a Ctrl-C at the terminal reaches only
    the process that started it, which then stops it in its turn.
    """

    host: str
    port: int
    directory: Path
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @classmethod
    def create(
        cls,
        directory: Path,
        *,
        host: str = "127.0.0.1",
        port: int | None = None,
        log_path: Path | None = None,
    ) -> LocalBroker:
        """Init a broker directory listening on ``host``:``port`` (default: a free port).

        Credentials already in ``directory`` are kept. The broker is not started yet.
        """
        port = port or free_port(host)
        init_broker(directory, port=port, bind=host)
        return cls(host, port, directory, log_path or directory / "broker.log")

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()

    def station(self, station_id: str | StationId) -> Credentials:
        """The credentials of ``site/line/station``, active in the broker on return."""
        if not isinstance(station_id, StationId):
            station_id = StationId.parse(station_id)
        return add_station(self.directory, station_id)

    def service(self, name: str = "central", role: Role = Role.CENTRAL) -> Credentials:
        """The credentials of a service user (role ``central`` unless told), active on return."""
        return add_service(self.directory, name, role)

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None and self.running else None

    def start(self, timeout_s: float = BROKER_START_TIMEOUT_S) -> None:
        """Start the broker (again) on the same port, and wait until it has fully started.

        Listening is not enough: Mosquitto opens its sockets before it installs its signal
        handlers, and a reload (SIGHUP) in between would end it. Its "running" line comes
        after both.
        """
        if self.running:
            return
        started_before = len(_RUNNING_LINE.findall(self.log()))
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(  # noqa: S603 - our own command line, no shell
                broker_command(self.directory),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._process = process
        deadline = time.monotonic() + timeout_s
        while len(_RUNNING_LINE.findall(self.log())) == started_before or not _accepts_tcp(
            self.host, self.port
        ):
            if process.poll() is not None:
                raise BrokerError(f"mosquitto exited at start:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not start on {self.port}:\n{self.log()}")
            time.sleep(POLL_S)

    def stop(self, grace_s: float = BROKER_STOP_TIMEOUT_S) -> int | None:
        """Stop the broker the way an operator would (SIGTERM: it saves its state).

        Killed when it has not ended after ``grace_s``. Returns its exit code, or None
        when it was not running.
        """
        process, self._process = self._process, None
        if process is None:
            return None
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        return process.returncode

    def log(self) -> str:
        """The broker's output so far (both stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def tail(self, lines: int = 20) -> str:
        """The end of the broker's output, for error messages."""
        return "\n".join(self.log().splitlines()[-lines:])


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False
