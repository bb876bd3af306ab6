"""The scanner: a camera's frames in, closed item passages out, at line speed.

This is what the agent and ``linetrace edge scan`` use, so an offline scan behaves exactly
as the line would. It wires three kinds of process together::

    capture process ──slot numbers──▶ scanner ──tasks──▶ decode workers (N processes)
          ▲    (frames in a shared-memory ring)  ◀─readings─┘
          └──────────── free slots ◀── scanner: re-order, track, interpret ──▶ passages

The scanner thread assigns every captured frame a sequence number, sends it with the
*hints* of the moment (labels already read, where they should be now) to the least busy
worker, puts the readings back in capture order, and feeds them to the
:class:`~linetrace.edge.scanner.pipeline.ScanPipeline`, which tracks codes and regions and
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
import threading
import time
from collections import deque
from collections.abc import Callable, Generator, Iterator
from datetime import datetime, timedelta, tzinfo
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import TYPE_CHECKING, Self

from linetrace.edge.camera.capture import Capture
from linetrace.edge.camera.capture_messages import Captured, Notice, SourceOpener, SourceSpec
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.settings import CaptureConfig
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.decode_workers import (
    InlineWorkers,
    Outcome,
    Reorderer,
    Task,
    WorkerPool,
    Workers,
)
from linetrace.edge.scanner.figures import ScanMeter, ScannerStats
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.scanner.settings import DEFAULT_WORKERS
from linetrace.edge.scanner.whole_read import photo_source
from linetrace.edge.vision.settings import PipelineConfig

if TYPE_CHECKING:
    from linetrace.edge.scanner.shared_pool import SharedPool

__all__ = ["Scanner"]

logger = logging.getLogger(__name__)

# How long the scanner loop waits for news before checking for a stop request.
_TICK_S = 0.05
# How often the capture watchdog is consulted.
_WATCHDOG_S = 0.5


class Scanner:
    """Capture, parallel reading and tracking for one camera; see the module docstring.

    ``source`` is a spec string (camera index, ``/dev/videoN``, stream URL, video file,
    image or folder, as :func:`~linetrace.edge.camera.sources.open_source` takes) or any
    picklable :class:`~linetrace.edge.camera.capture_messages.SourceOpener`. ``realtime``,
    ``utc_offset``, ``start``, ``fps`` and ``first_frame`` (a file's or folder's frame to
    start at) go to the source. ``workers`` is the number of
    decode processes; 0 reads in the scanner's own thread. With ``pool`` (several cameras
    on one box) the frames are read by that shared pool instead and ``workers`` is unused.
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
        first_frame: int = 0,
        workers: int = DEFAULT_WORKERS,
        capture: CaptureConfig | None = None,
        on_notice: Callable[[Notice], None] | None = None,
        pool: SharedPool | None = None,
    ) -> None:
        if workers < 0:
            raise ValueError(f"workers must not be negative, got {workers}")
        self.config = config
        self._capture_config = capture or CaptureConfig()
        if isinstance(source, str):
            read_timeout_s = self._capture_config.read_timeout_s
            source = SourceSpec(
                source,
                realtime,
                utc_offset,
                start,
                fps,
                read_timeout_s=read_timeout_s,
                first_frame=first_frame,
            )
        self._opener = source
        self._workers_wanted = workers
        self._pool = pool
        self._on_notice = on_notice
        self._stop = threading.Event()
        self._capture: Capture | None = None
        self._workers: Workers | None = None
        # Media time (a file or folder scanned fast) has no pauses for the trackers to
        # bridge; anything else, any other opener included, is taken as live.
        live = not (isinstance(source, SourceSpec) and source.media_timed)
        self._pipeline = ScanPipeline(config, live=live)
        self._pipeline.photos = photo_source(source)  # each picture decoded whole if need be
        self._reorder = Reorderer()
        self._queued: deque[tuple[int, Captured]] = deque()  # received, not yet sent
        self._still: list[Outcome] = []  # still frames, due in their turn
        self._frames: dict[int, Captured] = {}  # every frame not yet observed, by seq
        self._next_seq = 0
        self._meter = ScanMeter()
        self._watchdog_at = 0.0
        self._iterator: Generator[Passage, None, None] | None = None

    # --- lifecycle --------------------------------------------------------------------

    def start(self) -> None:
        """Open the source (:class:`~linetrace.edge.camera.sources.SourceError` if it cannot) and
        start the processes."""
        capture = Capture(
            self._opener,
            self._capture_config,
            skip_still=self.config.skip_still,
            on_notice=self._on_notice,
        )
        capture.start()
        self._capture = capture
        if capture.ring is None:
            raise RuntimeError("capture started without a ring")
        try:
            if self._pool is not None:
                self._workers = self._pool.client(capture.ring)
            elif self._workers_wanted > 0:
                self._workers = WorkerPool(self.config, capture.ring, self._workers_wanted)
            else:
                self._workers = InlineWorkers(self.config, capture.ring)
        except BaseException:
            capture.stop()
            raise
        self._meter.restart_clock()

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
            self._meter.captured(len(frames))

    def _dispatch(self, workers: Workers) -> None:
        while self._queued and workers.has_room():
            seq, captured = self._queued.popleft()
            if captured.slot is None:
                raise RuntimeError("a still frame queued for reading")
            hints = tuple(self._pipeline.hints(captured.mono, captured.index))
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
            self._meter.failed()
            logger.warning("frame %d not read: %s", captured.index, outcome.error)
            return []
        ring = capture.ring
        if ring is None or captured.slot is None:
            raise RuntimeError("a frame read outside the ring")
        frame = Frame(ring.view(captured.slot, captured.shape), captured.index, captured.wall,
                      captured.mono)  # fmt: skip
        passages = self._pipeline.observe_reading(frame, outcome.reading)
        del frame  # the view must not outlive the slot
        self._meter.decoded(outcome.seconds)
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
        counts = self._capture.counts() if self._capture is not None else None
        restarts = int(getattr(self._workers, "restarts", 0))
        return self._meter.stats(counts, self._pipeline.stats, len(self._frames), restarts)
