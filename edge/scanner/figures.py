"""The figures the scanning side reports: the scanner's own, and the status board's share.

:class:`ScanMeter` is what the scanner measures as it runs (rates, decode times, frames
that failed), read from any thread as :class:`ScannerStats`; :class:`ScanFigures` is what
every scanner reports to the station's status, metrics and logs. Kept apart from the
scanner (capture and decode processes) so that the status board can take them without
importing it.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from linetrace.edge.camera.capture import CaptureCounts
    from linetrace.edge.scanner.pipeline import ScanStats

__all__ = ["ScanFigures", "ScanMeter", "ScannerStats"]

# Decode times kept for the percentiles: about 30 s at 30 fps, enough for a stable p99 (10
# slowest frames) that still shows a change within a status interval or two.
DECODE_SAMPLES = 1000
# Rates are measured over this much recent time: smooth across a hiccup, yet a stalled
# camera shows within one status interval.
RATE_WINDOW_S = 5.0


@dataclass(frozen=True, slots=True)
class ScanFigures:
    """What the capture and decode side reports; every scanner fills what it knows."""

    frames: int = 0  # frames decoded since start
    fps_captured: float | None = None
    fps_decoded: float | None = None
    dropped_frames: int = 0  # frames the capture side dropped to keep up
    decode_ms_p50: float | None = None
    decode_ms_p99: float | None = None
    queue_depth: int | None = None  # frames waiting for a decoder
    reads: int = 0
    noreads: int = 0
    rejected: int = 0  # passages refused by a GS1 check (wrong check digit, bad date)
    misreads: int = 0
    second_reads: int = 0  # agreeing independent reads where no other frame could read
    disputes: int = 0  # independent reads that read another code: never confirmed
    corrupt_frames: int = 0  # pictures the source sent that did not decode, skipped
    source_failures: int = 0  # the source failed, stalled or could not be reopened
    reconnects: int = 0  # the source reopened after a failure
    camera_alarm: bool = False  # the source failed and no frame has come since


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
    second_reads: int  # agreeing independent reads (still scenes, photos, a file's end)
    disputes: int  # independent reads that read another code than the first read
    carried: int  # labels not decoded again because already read
    attempts: int  # decoder calls
    reconnects: int
    source_failures: int
    capture_restarts: int
    worker_restarts: int
    camera_alarm: bool

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


class ScanMeter:
    """What the scanner measures as it runs; :meth:`stats` may be called from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()  # guards what stats reads across threads
        self._failed = 0
        self._decoded = 0
        self._decode_ms: deque[float] = deque(maxlen=DECODE_SAMPLES)
        self._captured_rate = _Rate()
        self._decoded_rate = _Rate()
        self._started = time.monotonic()

    def restart_clock(self) -> None:
        """The scanner has started: its seconds count from now."""
        self._started = time.monotonic()

    def captured(self, count: int) -> None:
        self._captured_rate.add(time.monotonic(), count)

    def failed(self) -> None:
        with self._lock:
            self._failed += 1

    def decoded(self, seconds: float) -> None:
        with self._lock:
            self._decoded += 1
            self._decode_ms.append(1000.0 * seconds)
        self._decoded_rate.add(time.monotonic())

    def stats(
        self,
        counts: CaptureCounts | None,
        pipeline: ScanStats,
        depth: int,
        worker_restarts: int,
    ) -> ScannerStats:
        """The figures now, with the capture's ``counts``, the pipeline's and the number of
        frames captured and not yet tracked (``depth``)."""
        now = time.monotonic()
        with self._lock:
            samples = np.array(self._decode_ms) if self._decode_ms else None
            decoded, failed = self._decoded, self._failed
        p50, p99 = (
            (float(np.percentile(samples, 50)), float(np.percentile(samples, 99)))
            if samples is not None
            else (0.0, 0.0)
        )
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
            second_reads=pipeline.second_reads,
            disputes=pipeline.disputes,
            carried=pipeline.carried,
            attempts=pipeline.attempts,
            reconnects=counts.reconnects if counts else 0,
            source_failures=counts.failures if counts else 0,
            capture_restarts=counts.restarts if counts else 0,
            worker_restarts=worker_restarts,
            camera_alarm=counts.alarm if counts else False,
        )
