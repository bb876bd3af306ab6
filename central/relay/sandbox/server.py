"""Running a sandbox: in the foreground under uvicorn (the CLI), or in a thread (tests).

:class:`SandboxServer` is what tests, benchmarks and the demo use: it builds the state
and the profile, serves them on a free port of 127.0.0.1 in a background thread, and
returns once the server answers. ``stop()`` then ``start()`` again serves the same state
on the same port, so a test can make the target truly unreachable (connection refused)
for a while and find everything it had accepted when it comes back.
"""

from __future__ import annotations

import contextlib
import logging
import signal
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import FrameType, TracebackType
from typing import Any, Self

import uvicorn

from linetrace.central.relay.sandbox.app import build_app
from linetrace.central.relay.sandbox.faults import FaultPlan
from linetrace.central.relay.sandbox.profiles import Profile, build_profile
from linetrace.central.relay.sandbox.state import Auth, SandboxState
from linetrace.central.relay.sandbox.validation import DocumentValidator
from linetrace.errors import LinetraceError
from linetrace.ports import free_port

__all__ = [
    "SANDBOX_START_TIMEOUT_S",
    "SandboxServer",
    "free_port",
    "make_state",
    "serve_forever",
]

log = logging.getLogger(__name__)

# uvicorn binds and starts in milliseconds; a loaded 2-core CI box gets ample headroom.
SANDBOX_START_TIMEOUT_S = 10.0
# Between two looks at "has it started": short next to a start.
POLL_S = 0.01
# A graceful stop waits for open requests; the sandbox's requests take milliseconds.
STOP_TIMEOUT_S = 10.0


class SandboxError(LinetraceError):
    """The sandbox could not be started."""


def make_state(
    profile: str,
    *,
    schema: Path | None = None,
    faults: FaultPlan | None = None,
    auth: Auth | None = None,
    job_running_s: float = 0.0,
    options: dict[str, object] | None = None,
    monotonic: Callable[[], float] = time.monotonic,
) -> SandboxState:
    """The shared state for one sandbox; the schema from ``schema`` or the environment.

    ``monotonic`` is the clock of job durations and fault windows (tests pass their own).
    """
    return SandboxState(
        profile=profile,
        validator=DocumentValidator.load(schema),
        plan=faults or FaultPlan(),
        auth=auth or Auth(),
        job_running_s=job_running_s,
        options=dict(options or {}),
        monotonic=monotonic,
    )


class _Server(uvicorn.Server):
    """uvicorn that stops on SIGINT/SIGTERM and exits 0 (uvicorn itself re-raises the signal)."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is not threading.main_thread():
            yield
            return
        previous = {s: signal.signal(s, self._stop) for s in (signal.SIGINT, signal.SIGTERM)}
        try:
            yield
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _stop(self, sig: int, frame: FrameType | None) -> None:
        self.should_exit = True


def _config(app: Any, host: str, port: int) -> uvicorn.Config:
    # No access log: at thousands of requests a second it would cost more than the answers.
    return uvicorn.Config(app, host=host, port=port, log_config=None, access_log=False,
                          lifespan="off")  # fmt: skip


def serve_forever(state: SandboxState, profile: Profile, host: str, port: int) -> None:
    """Serve in the foreground until SIGINT or SIGTERM."""
    _Server(_config(build_app(state, profile), host, port)).run()


class SandboxServer:
    """A sandbox in a background thread of this process, on ``host``:``port`` (default free)."""

    def __init__(
        self,
        profile: str = "epcis-async",
        *,
        state: SandboxState | None = None,
        host: str = "127.0.0.1",
        port: int | None = None,
        **state_options: Any,
    ) -> None:
        self.state = state if state is not None else make_state(profile, **state_options)
        self.profile = build_profile(self.state.profile, self.state)
        self.host = host
        self.port = port or free_port(host)
        self.app = build_app(self.state, self.profile)
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def start(self) -> Self:
        """Serve, and return once the server listens (raise :class:`SandboxError` if it cannot)."""
        if self._thread is not None:
            return self
        server = _Server(_config(self.app, self.host, self.port))
        thread = threading.Thread(target=server.run, name=f"sandbox-{self.port}", daemon=True)
        thread.start()
        deadline = time.monotonic() + SANDBOX_START_TIMEOUT_S
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                server.should_exit = True
                raise SandboxError(f"the {self.profile.name} sandbox did not start on {self.url}")
            time.sleep(POLL_S)
        self._server, self._thread = server, thread
        return self

    def stop(self) -> None:
        """Stop serving (connections are then refused); the state is kept for ``start()``."""
        if self._server is None or self._thread is None:
            return
        self._server.should_exit = True
        self._thread.join(STOP_TIMEOUT_S)
        self._server, self._thread = None, None

    def stats(self) -> dict[str, object]:
        """What ``GET /_sandbox/stats`` answers, read in-process."""
        import httpx

        return dict(httpx.get(f"{self.url}/_sandbox/stats", timeout=5.0).json())

    def faults(self, **values: object) -> None:
        """Change the fault plan (as ``POST /_sandbox/faults``)."""
        self.state.faults.update(values)

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
