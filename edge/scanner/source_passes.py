"""The scanner as the agent drives it: passages in steps with a clock, passes, and figures.

:class:`~linetrace.edge.scanner.scanner.Scanner` captures, decodes in worker processes and tracks;
it yields passages only as they close. The agent needs a little more: a clock that moves
while the line is quiet (a pack parent waits for its children by it), a file played
again and again (``source.loop``: a fresh scanner each pass, since media time starts at
zero again), and the scanner's figures for the status. So the scanner runs in a thread
of its own that hands passages over a queue, and :meth:`ScanSteps.steps` turns them into
:class:`ScanStep` s, one at least every :data:`TICK_S`.

The clock is the frames' monotonic one, never the wall clock (a time sync may step it;
the wall clock only stamps ``observed_at``): a camera, a stream or a file played in real
time stamps frames with ``time.monotonic()``, so "now" is ``time.monotonic()``. A file
scanned as fast as it decodes carries media time instead, which only its passages tell;
there "now" is the latest time a passage was seen, and the end of the pass releases
whatever still waits.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Generator
from dataclasses import dataclass, replace
from datetime import tzinfo
from typing import TYPE_CHECKING

from linetrace.edge.camera.capture_messages import media_timed
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.settings import CaptureConfig
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.figures import ScanFigures, ScannerStats
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.vision.settings import PipelineConfig

if TYPE_CHECKING:
    from linetrace.edge.scanner.shared_pool import SharedPool

__all__ = ["TICK_S", "ScanStep", "ScanSteps", "SourcePlan"]

logger = logging.getLogger(__name__)

# How often a step comes when no passage closes: a pack parent waits a second by default,
# so a tenth of that keeps its release prompt, at the cost of ten queue polls a second.
TICK_S = 0.1


@dataclass(frozen=True, slots=True)
class ScanStep:
    """What happened since the last step: the passages closed, and the stream's clock."""

    now: float  # the frames' monotonic clock (Passage.last_mono's), not the wall clock
    passages: list[Passage]
    end_of_pass: bool = False


@dataclass(frozen=True, slots=True)
class _Ended:
    """The scanner's iteration is over (with the error that ended it, if any)."""

    error: Exception | None = None


@dataclass(frozen=True, slots=True)
class SourcePlan:
    """Where frames come from and how they are played (the agent config's source part)."""

    spec: str
    realtime: bool
    loop: bool
    utc_offset: tzinfo
    first_frame: int = 0  # where a file's first pass starts; a looped file replays whole

    @property
    def wall_clock(self) -> bool:
        """Whether frames carry the wall clock and ``time.monotonic()`` (not media time):
        anything but a file or folder scanned fast."""
        return not media_timed(self.spec, realtime=self.realtime)


class ScanSteps:
    """One station's scanner, pass after pass, as steps; :meth:`figures` from any thread."""

    def __init__(
        self,
        pipeline: PipelineConfig,
        source: SourcePlan,
        *,
        workers: int,
        capture: CaptureConfig | None = None,
        pool: SharedPool | None = None,
    ) -> None:
        """``pool``: decode in this pool, shared with the box's other cameras."""
        self._pipeline = pipeline
        self._pool = pool
        self._source = source
        self._workers = workers
        self._capture = capture
        self._lock = threading.Lock()
        self._scanner: Scanner | None = None  # the pass running now
        self._totals = _Totals()  # of the passes finished
        self._latest: float | None = None  # the latest (monotonic) a passage was seen
        self._passes = 0

    def steps(self, stop_event: threading.Event) -> Generator[ScanStep, None, None]:
        """Steps until the source ends (without ``loop``) or ``stop_event`` is set."""
        while not stop_event.is_set():
            frames = yield from self._one_pass(stop_event)
            if not self._source.loop:
                return
            if frames == 0:
                raise SourceError(f"{self._source.spec} gave no frames; not looping over nothing")
            logger.info("%s ended; playing it again (source.loop)", self._source.spec)

    def _one_pass(self, stop_event: threading.Event) -> Generator[ScanStep, None, int]:
        scanner = Scanner(
            self._pipeline,
            self._source.spec,
            realtime=self._source.realtime,
            utc_offset=self._source.utc_offset,
            first_frame=self._source.first_frame if self._passes == 0 else 0,
            workers=self._workers,
            capture=self._capture,
            pool=self._pool,
        )
        self._latest = None
        self._passes += 1
        with scanner:
            logger.info("capturing from %s", scanner.description)
            with self._lock:
                self._scanner = scanner
            handed: queue.SimpleQueue[Passage | _Ended] = queue.SimpleQueue()
            pump = threading.Thread(
                target=_pump, args=(scanner, handed), name="linetrace-scan", daemon=True
            )
            pump.start()
            try:
                yield from self._relay(scanner, handed, stop_event)
            finally:
                scanner.stop()
                pump.join()
            stats = scanner.stats
            with self._lock:
                self._totals.add(stats)
                self._scanner = None
        return stats.decoded + stats.still

    def _relay(
        self,
        scanner: Scanner,
        handed: queue.SimpleQueue[Passage | _Ended],
        stop_event: threading.Event,
    ) -> Generator[ScanStep, None, None]:
        while True:
            if stop_event.is_set():
                scanner.stop()  # the scanner closes its open passages and ends
            try:
                items = [handed.get(timeout=TICK_S)]
            except queue.Empty:
                yield ScanStep(self._now(), [])
                continue
            while not handed.empty():
                items.append(handed.get_nowait())
            passages = [item for item in items if isinstance(item, Passage)]
            for passage in passages:
                seen = passage.last_mono
                if seen is not None and (self._latest is None or seen > self._latest):
                    self._latest = seen
            ended = [item for item in items if isinstance(item, _Ended)]
            if ended and ended[0].error is not None:
                yield ScanStep(self._now(), passages)  # what closed before the failure
                raise ended[0].error
            yield ScanStep(self._now(), passages, end_of_pass=bool(ended))
            if ended:
                return

    def _now(self) -> float:
        if self._source.wall_clock:
            return time.monotonic()
        return self._latest if self._latest is not None else 0.0

    def figures(self) -> ScanFigures:
        """The scanner's counters and rates so far, every pass included."""
        with self._lock:
            running = self._scanner.stats if self._scanner is not None else None
            totals = self._totals.plus(running)
        return ScanFigures(
            frames=totals.frames,
            fps_captured=running.fps_captured if running is not None else 0.0,
            fps_decoded=running.fps_decoded if running is not None else 0.0,
            dropped_frames=totals.dropped,
            decode_ms_p50=running.decode_ms_p50 if running is not None else None,
            decode_ms_p99=running.decode_ms_p99 if running is not None else None,
            queue_depth=running.queue_depth if running is not None else 0,
            reads=totals.reads,
            noreads=totals.noreads,
            rejected=totals.rejected,
            misreads=totals.misreads,
            second_reads=totals.second_reads,
            disputes=totals.disputes,
            corrupt_frames=totals.skipped,
            source_failures=totals.failures,
            reconnects=totals.reconnects,
            camera_alarm=running.camera_alarm if running is not None else False,
        )


def _pump(scanner: Scanner, handed: queue.SimpleQueue[Passage | _Ended]) -> None:
    """The scanner thread: every passage as it closes, then the end."""
    try:
        for passage in scanner:
            handed.put(passage)
    except Exception as exc:  # noqa: BLE001 - a thread's end: the agent's thread raises it
        handed.put(_Ended(exc))
    else:
        handed.put(_Ended())


@dataclass(slots=True)
class _Totals:
    """Counters of finished passes, plus the running one on request."""

    frames: int = 0
    dropped: int = 0
    reads: int = 0
    noreads: int = 0
    rejected: int = 0
    misreads: int = 0
    second_reads: int = 0
    disputes: int = 0
    skipped: int = 0
    failures: int = 0
    reconnects: int = 0

    def add(self, stats: ScannerStats) -> None:
        self.frames += stats.decoded + stats.still
        self.dropped += stats.dropped
        self.reads += stats.reads
        self.noreads += stats.noreads
        self.rejected += stats.rejected
        self.misreads += stats.misreads
        self.second_reads += stats.second_reads
        self.disputes += stats.disputes
        self.skipped += stats.skipped
        self.failures += stats.source_failures
        self.reconnects += stats.reconnects

    def plus(self, stats: ScannerStats | None) -> _Totals:
        total = replace(self)
        if stats is not None:
            total.add(stats)
        return total
