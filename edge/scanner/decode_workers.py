"""Reading frames in worker processes, so decoding scales with cores instead of the GIL.

Each worker attaches to the frame ring, builds its own
:class:`~linetrace.edge.vision.reader.FrameReader` from the station's pipeline config, and reads
the frames it is sent, in place in the ring. Tasks go to the worker with the fewest in
flight; results come back in whatever order the workers finish, and :class:`Reorderer`
puts them back in capture order, which the trackers need.

A worker that raises on a frame reports the error for that frame (the frame is skipped
and counted, the worker lives on). A worker process that dies (a crash in native code)
is started again and its frames are given to the others; a frame that has killed
:data:`MAX_FRAME_ATTEMPTS` workers is given up as failed instead of killing more.

:class:`InlineWorkers` has the same surface and reads in the calling thread: for one-core
machines, tests, and as the baseline the benchmark compares against.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import signal
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from multiprocessing.connection import Connection, wait
from typing import TYPE_CHECKING, Protocol

import cv2

from linetrace.edge.camera.ring import FrameRing, RingError
from linetrace.edge.scanner.worker_rings import Forget, RingRef, WorkerRings
from linetrace.edge.vision.decode import ImageError
from linetrace.edge.vision.formats import DecoderError
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Hint, Reading
from linetrace.errors import LinetraceError
from linetrace.logs import configure_logging

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess

    from linetrace.edge.vision.settings import PipelineConfig

__all__ = [
    "MAX_FRAME_ATTEMPTS",
    "InlineWorkers",
    "Outcome",
    "Reorderer",
    "RingRef",
    "Task",
    "WorkerError",
    "WorkerPool",
    "Workers",
]

logger = logging.getLogger(__name__)

# Two frames per worker: one being read, one waiting, so a worker never idles on the round
# trip to the scanner; more would only make the hints (labels already read) staler.
IN_FLIGHT_PER_WORKER = 2
# A frame that killed this many worker processes is not given to another one.
MAX_FRAME_ATTEMPTS = 2
# A worker that is not ready this long after it was started (imports, decoder set-up:
# about a second) is not going to be.
READY_TIMEOUT_S = 60.0
_READY = "ready"
_SPAWN = multiprocessing.get_context("spawn")


@dataclass(frozen=True, slots=True)
class Task:
    """Read the frame of ``shape`` in ``slot``, skipping the labels ``hints`` name.

    ``ring`` names the frame ring when the pool serves several cameras (see
    :mod:`~linetrace.edge.scanner.shared_pool`); None is the pool's own ring.
    """

    seq: int
    slot: int
    shape: tuple[int, int]
    hints: tuple[Hint, ...] = ()
    ring: RingRef | None = None


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of a task: its reading, or why there is none."""

    seq: int
    reading: Reading | None
    error: str | None = None
    seconds: float = 0.0  # wall time the worker spent on it


class Workers(Protocol):
    """Where frames are read: worker processes, or the calling thread."""

    def has_room(self) -> bool:
        """Whether another task can be submitted now."""
        ...

    def submit(self, task: Task) -> None: ...

    def collect(self, timeout: float) -> list[Outcome]:
        """The outcomes ready within ``timeout`` seconds (maybe none)."""
        ...

    def waitables(self) -> list[Connection | int]:
        """What to wait on for outcomes (for :func:`multiprocessing.connection.wait`)."""
        ...

    @property
    def in_flight(self) -> int: ...

    def close(self) -> None: ...


def _read(reader: FrameReader, ring: FrameRing, task: Task) -> Outcome:
    started = time.perf_counter()
    try:
        reading = reader.read(ring.view(task.slot, task.shape), task.hints)
    except (ImageError, DecoderError, RingError, cv2.error) as exc:
        return Outcome(task.seq, None, f"{type(exc).__name__}: {exc}")
    return Outcome(task.seq, reading, None, time.perf_counter() - started)


def _worker_main(
    config: PipelineConfig, own: RingRef | None, conn: Connection, log_level: int
) -> None:
    """A worker process: read each task's frame from its ring until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scanner decides when to stop
    configure_logging(log_level)  # the parent's format, from the environment
    cv2.setNumThreads(1)  # one process per core: OpenCV's own threads would only compete
    reader = FrameReader(config)
    rings = WorkerRings(own)
    try:
        if own is not None:
            rings.get(own)
        conn.send(_READY)
        while (task := conn.recv()) is not None:
            if isinstance(task, Forget):
                rings.forget(task.name)
                continue
            try:
                ring = rings.get(task.ring)
            except RingError as exc:
                conn.send(Outcome(task.seq, None, str(exc)))
                continue
            conn.send(_read(reader, ring, task))
    except (EOFError, BrokenPipeError, ConnectionResetError):
        pass  # the scanner is gone
    finally:
        rings.close()


@dataclass(slots=True, eq=False)
class _Worker:
    process: BaseProcess
    conn: Connection
    tasks: dict[int, Task] = field(default_factory=dict)  # in flight, by seq


class WorkerPool:
    """``count`` worker processes reading frames from ``ring`` (None: from the ring each
    task names)."""

    def __init__(self, config: PipelineConfig, ring: FrameRing | None, count: int) -> None:
        if count < 1:
            raise ValueError(f"a worker pool needs at least one worker, got {count}")
        self._config = config
        self._ring = ring
        self._workers: list[_Worker] = []
        self._attempts: dict[int, int] = {}  # seq -> workers it has killed
        self.restarts = 0
        try:
            self._workers = [self._start() for _ in range(count)]
            for worker in self._workers:
                _await_ready(worker)
        except BaseException:
            self.close()
            raise

    def _start(self) -> _Worker:
        parent, child = _SPAWN.Pipe(duplex=True)
        own = RingRef.of(self._ring) if self._ring is not None else None
        process = _SPAWN.Process(
            target=_worker_main,
            args=(self._config, own, child, logging.getLogger().getEffectiveLevel()),
            name="linetrace-decode",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    @property
    def pids(self) -> list[int | None]:
        """The worker processes' ids."""
        return [worker.process.pid for worker in self._workers]

    @property
    def in_flight(self) -> int:
        return sum(len(worker.tasks) for worker in self._workers)

    def has_room(self) -> bool:
        return any(len(w.tasks) < IN_FLIGHT_PER_WORKER for w in self._workers)

    def submit(self, task: Task) -> None:
        worker = min(self._workers, key=lambda w: len(w.tasks))
        worker.tasks[task.seq] = task
        # A worker that died is noticed by collect(), which hands its tasks on.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            worker.conn.send(task)

    def forget(self, ring_name: str) -> None:
        """Have every worker detach from ``ring_name`` once its tasks before this are read."""
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                worker.conn.send(Forget(ring_name))

    def waitables(self) -> list[Connection | int]:
        items: list[Connection | int] = []
        for worker in self._workers:
            items += [worker.conn, worker.process.sentinel]
        return items

    def collect(self, timeout: float) -> list[Outcome]:
        ready = set(wait(self.waitables(), timeout))
        outcomes: list[Outcome] = []
        for worker in list(self._workers):
            if worker.conn in ready:
                outcomes += self._drain(worker)
            if worker.process.sentinel in ready or not worker.process.is_alive():
                outcomes += self._replace(worker)
        return outcomes

    def _drain(self, worker: _Worker) -> list[Outcome]:
        outcomes: list[Outcome] = []
        with contextlib.suppress(EOFError, ConnectionResetError):
            while worker.conn.poll():
                outcome: Outcome = worker.conn.recv()
                worker.tasks.pop(outcome.seq, None)
                outcomes.append(outcome)
        return outcomes

    def _replace(self, dead: _Worker) -> list[Outcome]:
        """Start a worker in place of ``dead``; hand its frames on, or give them up."""
        outcomes = self._drain(dead)
        self._workers.remove(dead)
        dead.conn.close()
        dead.process.join(timeout=1.0)
        code = dead.process.exitcode
        logger.error("decode worker died (exit code %s); starting another", code)
        if code is None:
            dead.process.kill()
            dead.process.join()
        dead.process.close()
        replacement = self._start()
        _await_ready(replacement)
        self._workers.append(replacement)
        self.restarts += 1
        for task in dead.tasks.values():
            tries = self._attempts.get(task.seq, 0) + 1
            self._attempts[task.seq] = tries
            if tries >= MAX_FRAME_ATTEMPTS:
                outcomes.append(Outcome(task.seq, None, f"killed {tries} decode workers"))
            else:
                self.submit(task)
        return outcomes

    def close(self) -> None:
        for worker in self._workers:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                worker.conn.send(None)
        for worker in self._workers:
            worker.process.join(timeout=2.0)
            if worker.process.is_alive():
                worker.process.kill()
                worker.process.join()
            worker.process.close()
            worker.conn.close()
        self._workers.clear()


class WorkerError(LinetraceError):
    """A decode worker that could not start."""


def _await_ready(worker: _Worker) -> None:
    """Wait until ``worker`` has set up, so the first frames do not wait on its imports."""
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not worker.conn.poll(0.1):
        if not worker.process.is_alive():
            raise WorkerError(
                f"decode worker exited at start (exit code {worker.process.exitcode})"
            )
        if time.monotonic() > deadline:
            raise WorkerError(f"decode worker not ready after {READY_TIMEOUT_S:.0f} s")
    try:
        message = worker.conn.recv()
    except EOFError:
        raise WorkerError("decode worker exited at start") from None
    if message != _READY:
        raise WorkerError(f"decode worker said {message!r} instead of being ready")


class InlineWorkers:
    """Reads each task at once, in the calling thread."""

    def __init__(self, config: PipelineConfig, ring: FrameRing) -> None:
        self._reader = FrameReader(config)
        self._ring = ring
        self._done: list[Outcome] = []
        self.restarts = 0

    @property
    def in_flight(self) -> int:
        return len(self._done)

    def has_room(self) -> bool:
        return not self._done

    def submit(self, task: Task) -> None:
        self._done.append(_read(self._reader, self._ring, task))

    def waitables(self) -> list[Connection | int]:
        return []

    def collect(self, timeout: float) -> list[Outcome]:
        done, self._done = self._done, []
        return done

    def close(self) -> None:
        self._done.clear()


class Reorderer:
    """Hands outcomes back in ``seq`` order, however they arrive."""

    def __init__(self, first: int = 0) -> None:
        self._next = first
        self._waiting: dict[int, Outcome] = {}

    @property
    def waiting(self) -> int:
        return len(self._waiting)

    def skip(self, seq: int) -> None:
        """``seq`` will never come (a frame dropped while stopping): do not wait for it."""
        self._waiting[seq] = Outcome(seq, None, "skipped")

    def add(self, outcomes: Sequence[Outcome]) -> list[Outcome]:
        """Take ``outcomes``; return those now due, in order."""
        for outcome in outcomes:
            if outcome.seq >= self._next:
                self._waiting[outcome.seq] = outcome
        due: list[Outcome] = []
        while self._next in self._waiting:
            due.append(self._waiting.pop(self._next))
            self._next += 1
        return due
