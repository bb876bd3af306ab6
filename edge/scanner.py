"""The scanner: a camera's frames in, closed item passages out, at line speed.

This is what the agent and ``linetrace edge scan`` use, so an offline scan behaves exactly
as the line would. It wires three kinds of process together::

    capture process ──slot numbers──▶ scanner ──tasks──▶ decode workers (N processes)
          ▲    (frames in a shared-memory ring)  ◀─readings─┘
          └──────────── free slots ◀── scanner: re-order, track, interpret ──▶ passages

The scanner thread assigns every captured frame a sequence number, sends it with the
*hints* of the moment (labels already read, where they should be now) to the least busy
worker, puts the readings back in capture order, and feeds them to the
:class:`~linetrace.edge.pipeline.ScanPipeline`, which tracks codes and regions and
closes passages. A slot goes back to capture once its frame has been observed.

Use it as a context manager and iterate::

    with Scanner(config, "rtsp://camera/stream", utc_offset=station_tz) as scanner:
        for passage in scanner:
            store(passage)

Iteration ends when the source ends (a file) or after :meth:`Scanner.stop` (from any
thread); the passages still open are closed and yielded last. :attr:`Scanner.stats` may
be read at any time, from any thread.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Self

import numpy as np

from linetrace.edge.capture import (
    Capture,
    CaptureConfig,
    Captured,
    Notice,
    SourceOpener,
    SourceSpec,
)
from linetrace.edge.model import Frame, Passage
from linetrace.edge.pipeline import PipelineConfig, ScanPipeline
from linetrace.edge.workers import InlineWorkers, Outcome, Reorderer, Task, WorkerPool, Workers

__all__ = ["DEFAULT_WORKERS", "Scanner", "ScannerStats"]

logger = logging.getLogger(__name__)

# The capture process (decoding the video stream) takes one core; the others read. Even
# on two cores one worker process beats reading in the scanner's own thread (measured
# with bench/edge_decode.py: ~1.5x at 720p and 1080p), as the scanner's tracking then
# overlaps the reading of the next frame.
DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)
# Decode times kept for the percentiles: about 30 s at 30 fps, enough for a stable p99 (10
# slowest frames) that still shows a change within a status interval or two.
DECODE_SAMPLES = 1000
# Rates are measured over this much recent time: smooth across a hiccup, yet a stalled
# camera shows within one status interval.
RATE_WINDOW_S = 5.0
# How long the scanner loop waits for news before checking for a stop request.
_TICK_S = 0.05
# How often the capture watchdog is consulted.
_WATCHDOG_S = 0.5


@dataclass(frozen=True, slots=True)
class ScannerStats:
    """The scanner's figures at one moment; ``as_dict`` is what status and ``--stats`` show."""

    seconds: float
    captured: int  # frames put in the ring
    still: int  # frames skipped as unchanged
    dropped: int  # frames lost because decoding had fallen behind (live sources)
    skipped: int  # images that could not be read (a folder source)
    decoded: int  # frames read by the workers
    failed: int  # frames a worker could not read
    fps_captured: float  # over the last RATE_WINDOW_S
    fps_decoded: float
    decode_ms_p50: float
    decode_ms_p99: float
    queue_depth: int  # frames captured and not yet tracked
    reads: int
    noreads: int
    rejected: int
    misreads: int
    unconfirmed: int
    carried: int  # labels not decoded again because already read
    attempts: int  # decoder calls
    reconnects: int
    source_failures: int
    capture_restarts: int
    worker_restarts: int

    def as_dict(self) -> dict[str, float]:
        return {name: getattr(self, name) for name in self.__slots__}


class _Rate:
    """Events per second over the last :data:`RATE_WINDOW_S`; safe across threads (the
    scanner adds, a status thread reads)."""

    def __init__(self) -> None:
        self._times: deque[float] = deque()
        self._lock = threading.Lock()

    def add(self, now: float, count: int = 1) -> None:
        with self._lock:
            self._times.extend([now] * count)
            self._trim(now)

    def per_second(self, now: float) -> float:
        with self._lock:
            self._trim(now)
            if len(self._times) < 2:
                return 0.0
            span = max(now - self._times[0], 1e-3)
            return len(self._times) / span

    def _trim(self, now: float) -> None:
        while self._times and now - self._times[0] > RATE_WINDOW_S:
            self._times.popleft()


class Scanner:
    """Capture, parallel reading and tracking for one camera; see the module docstring.

    ``source`` is a spec string (camera index, ``/dev/videoN``, stream URL, video file,
    image or folder, as :func:`~linetrace.edge.sources.open_source` takes) or any picklable
    :class:`~linetrace.edge.capture.SourceOpener`. ``realtime``, ``utc_offset``, ``start``
    and ``fps`` go to the source. ``workers`` is the number of decode processes; 0 reads in
    the scanner's own thread.
    """

    def __init__(
        self,
        config: PipelineConfig,
        source: str | SourceOpener,
        *,
        realtime: bool = False,
        utc_offset: timedelta | tzinfo | None = None,
        start: datetime | None = None,
        fps: float | None = None,
        workers: int = DEFAULT_WORKERS,
        capture: CaptureConfig | None = None,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must not be negative, got {workers}")
        self.config = config
        if isinstance(source, str):
            source = SourceSpec(source, realtime, utc_offset, start, fps)
        self._opener = source
        self._workers_wanted = workers
        self._capture_config = capture or CaptureConfig()
        self._on_notice = on_notice
        self._stop = threading.Event()
        self._lock = threading.Lock()  # guards what stats reads across threads
        self._capture: Capture | None = None
        self._workers: Workers | None = None
        self._pipeline = ScanPipeline(config)
        self._reorder = Reorderer()
        self._queued: deque[tuple[int, Captured]] = deque()  # received, not yet sent
        self._still: list[Outcome] = []  # still frames, due in their turn
        self._frames: dict[int, Captured] = {}  # every frame not yet observed, by seq
        self._next_seq = 0
        self._failed = 0
        self._decoded = 0
        self._decode_ms: deque[float] = deque(maxlen=DECODE_SAMPLES)
        self._captured_rate = _Rate()
        self._decoded_rate = _Rate()
        self._started = time.monotonic()
        self._watchdog_at = 0.0
        self._iterator: Generator[Passage, None, None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Open the source (:class:`~linetrace.edge.sources.SourceError` if it cannot) and
        start the processes."""
        capture = Capture(
            self._opener,
            self._capture_config,
            skip_still=self.config.skip_still,
            on_notice=self._on_notice,
        )
        capture.start()
        self._capture = capture
        assert capture.ring is not None
        try:
            if self._workers_wanted > 0:
                self._workers = WorkerPool(self.config, capture.ring, self._workers_wanted)
            else:
                self._workers = InlineWorkers(self.config, capture.ring)
        except BaseException:
            capture.stop()
            raise
        self._started = time.monotonic()

    def stop(self) -> None:
        """Ask the scanner to stop (from any thread): iteration ends soon after, with the
        passages still open."""
        self._stop.set()

    def close(self) -> None:
        """Stop every process and free the ring; the scanner cannot be restarted."""
        self._stop.set()
        if self._iterator is not None:
            self._iterator.close()  # drops its frame views before the ring goes
        if self._workers is not None:
            self._workers.close()
        if self._capture is not None:
            self._capture.stop()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def description(self) -> str:
        """What is being captured, e.g. ``video conveyor.mp4``."""
        return self._capture.description if self._capture is not None else ""

    # --- the loop ----------------------------------------------------------------------

    def __iter__(self) -> Iterator[Passage]:
        if self._iterator is None:
            self._iterator = self._run()
        return self._iterator

    def finish(self) -> list[Passage]:
        """Close the passages still open, e.g. after iteration was interrupted."""
        return self._pipeline.finish()

    def _run(self) -> Generator[Passage, None, None]:
        capture, workers = self._capture, self._workers
        if capture is None or workers is None:
            raise RuntimeError("start the scanner (or use it in a with block) first")
        stopping = False
        while True:
            if self._stop.is_set() and not stopping:
                stopping = True
                capture.request_stop()
                self._drop_queued(capture)
            self._wait(capture, workers, stopping)
            if not stopping:
                self._receive(capture)
                self._dispatch(workers)
            outcomes = workers.collect(0.0) + self._still
            self._still = []
            for outcome in self._reorder.add(outcomes):
                passages = self._observe(capture, outcome)
                yield from passages
            if self._watchdog_due():
                capture.check()
            if self._idle(workers) and (stopping or capture.ended is not None):
                break
        yield from self._pipeline.finish()

    def _wait(self, capture: Capture, workers: Workers, stopping: bool) -> None:
        if self._still or (workers.in_flight and not workers.waitables()):
            return  # something is ready already
        waitables: list[Connection | int] = [*workers.waitables()]
        if capture.running and not stopping:
            waitables.append(capture.connection)
        if waitables:
            wait(waitables, _TICK_S)
        else:
            time.sleep(_TICK_S)

    def _receive(self, capture: Capture) -> None:
        frames = capture.receive()
        for captured in frames:
            seq = self._next_seq
            self._next_seq += 1
            self._frames[seq] = captured
            if captured.slot is None:  # still: nothing to read, observed in its turn
                self._still.append(Outcome(seq, None))
            else:
                self._queued.append((seq, captured))
        if frames:
            self._captured_rate.add(time.monotonic(), len(frames))

    def _dispatch(self, workers: Workers) -> None:
        while self._queued and workers.has_room():
            seq, captured = self._queued.popleft()
            assert captured.slot is not None
            hints = tuple(self._pipeline.hints(captured.mono))
            workers.submit(Task(seq, captured.slot, captured.shape, hints))

    def _observe(self, capture: Capture, outcome: Outcome) -> list[Passage]:
        captured = self._frames.pop(outcome.seq, None)
        if captured is None:
            return []  # dropped while stopping
        if captured.slot is None:
            return self._pipeline.observe_still(captured.index, captured.mono, captured.wall)
        try:
            return self._observe_read(capture, captured, outcome)
        finally:
            capture.release(captured.slot)

    def _observe_read(
        self, capture: Capture, captured: Captured, outcome: Outcome
    ) -> list[Passage]:
        if outcome.reading is None:
            with self._lock:
                self._failed += 1
            logger.warning("frame %d not read: %s", captured.index, outcome.error)
            return []
        ring = capture.ring
        assert ring is not None and captured.slot is not None
        frame = Frame(ring.view(captured.slot, captured.shape), captured.index, captured.wall,
                      captured.mono)  # fmt: skip
        passages = self._pipeline.observe_reading(frame, outcome.reading)
        del frame  # the view must not outlive the slot
        with self._lock:
            self._decoded += 1
            self._decode_ms.append(1000.0 * outcome.seconds)
        self._decoded_rate.add(time.monotonic())
        return passages

    def _drop_queued(self, capture: Capture) -> None:
        """Stopping: frames not yet sent to a worker will not be read."""
        while self._queued:
            seq, captured = self._queued.popleft()
            self._frames.pop(seq, None)
            self._reorder.skip(seq)
            if captured.slot is not None:
                capture.release(captured.slot)

    def _idle(self, workers: Workers) -> bool:
        """Whether every frame received has been observed."""
        return not self._queued and not workers.in_flight and not self._frames

    def _watchdog_due(self) -> bool:
        now = time.monotonic()
        if now - self._watchdog_at < _WATCHDOG_S:
            return False
        self._watchdog_at = now
        return True

    # --- figures -----------------------------------------------------------------------

    @property
    def stats(self) -> ScannerStats:
        now = time.monotonic()
        counts = self._capture.counts() if self._capture is not None else None
        pipeline = self._pipeline.stats
        with self._lock:
            samples = np.array(self._decode_ms) if self._decode_ms else None
            decoded, failed = self._decoded, self._failed
            depth = len(self._frames)
        p50, p99 = (
            (float(np.percentile(samples, 50)), float(np.percentile(samples, 99)))
            if samples is not None
            else (0.0, 0.0)
        )
        restarts = getattr(self._workers, "restarts", 0)
        return ScannerStats(
            seconds=round(now - self._started, 3),
            captured=counts.captured if counts else 0,
            still=counts.still if counts else 0,
            dropped=counts.dropped if counts else 0,
            skipped=counts.skipped if counts else 0,
            decoded=decoded,
            failed=failed,
            fps_captured=round(self._captured_rate.per_second(now), 1),
            fps_decoded=round(self._decoded_rate.per_second(now), 1),
            decode_ms_p50=round(p50, 2),
            decode_ms_p99=round(p99, 2),
            queue_depth=depth,
            reads=pipeline.reads,
            noreads=pipeline.noreads,
            rejected=pipeline.rejected,
            misreads=pipeline.misreads,
            unconfirmed=pipeline.unconfirmed,
            carried=pipeline.carried,
            attempts=pipeline.attempts,
            reconnects=counts.reconnects if counts else 0,
            source_failures=counts.failures if counts else 0,
            capture_restarts=counts.restarts if counts else 0,
            worker_restarts=int(restarts),
        )
