"""The capture process: the source, the frame ring's writer and the reopening watchdog.

Runs in its own process (see :mod:`linetrace.edge.camera.capture` for the scanner's side
and why): it opens the source, stamps and greys each frame, writes it into a free ring
slot or drops it when none is free (live) or waits for one (offline), marks still frames,
and closes and reopens a source that fails or stalls, with exponential backoff.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import signal
import time
from collections.abc import Iterator
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from linetrace.backoff import Backoff
from linetrace.edge.camera.capture_messages import (
    CAPTURED,
    DROPPED,
    FAILURES,
    HEARTBEAT,
    RECONNECTS,
    SKIPPED,
    STILL,
    TICK_S,
    Captured,
    Ended,
    Notice,
    Opened,
    RingReady,
    SourceOpener,
)
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.frame_source import FrameSource, SourceError
from linetrace.edge.camera.images import grayscale, shrink
from linetrace.edge.camera.ring import FrameRing
from linetrace.edge.camera.settings import CaptureConfig
from linetrace.logs import configure_logging

if TYPE_CHECKING:
    from multiprocessing.sharedctypes import SynchronizedArray

    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["capture_main"]

logger = logging.getLogger(__name__)

# A file that keeps failing is given up after this many reopenings: unlike a camera, it
# will not come back by itself.
MAX_FILE_REOPENS = 5
# A frame is still when no 16x16 block of it changed by more than this many grey levels
# on average: sensor noise of 10 levels moves such a block by under 2, a label moving by
# a pixel moves the blocks on its edges by 10 and more.
STILL_LEVEL = 6
_STILL_HALVINGS = 4  # 16 = 2^4


def _slot_shape(first: tuple[int, ...], largest: tuple[int, int] | None) -> tuple[int, int]:
    """The ring slot's shape: the first frame's, or the largest the source will deliver."""
    height, width = first[0], first[1]
    if largest is not None and largest[0] * largest[1] > height * width:
        return largest
    return (height, width)


def capture_main(
    opener: SourceOpener,
    config: CaptureConfig,
    skip_still: bool,
    conn: Connection,
    counters: SynchronizedArray[float],
    first_index: int,
    log_level: int,
) -> None:
    """The capture process: open, hand over the shape, then stream until told to stop."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the scanner decides when to stop
    configure_logging(log_level)  # the parent's format, from the environment
    cv2.setNumThreads(1)  # one process per job: OpenCV's own threads would only compete
    # Without the scanner's end of the pipe there is nobody to capture for.
    with contextlib.suppress(EOFError, BrokenPipeError, ConnectionResetError):
        _Streamer(opener, config, skip_still, conn, counters, first_index).run()


class _Stop(Exception):
    """The scanner asked the capture to stop."""


class _Streamer:
    """The capture loop and its watchdog, inside the capture process."""

    def __init__(
        self,
        opener: SourceOpener,
        config: CaptureConfig,
        skip_still: bool,
        conn: Connection,
        counters: SynchronizedArray[float],
        first_index: int,
    ) -> None:
        self._opener = opener
        self._config = config
        self._skip_still = skip_still
        self._conn = conn
        self._counters = counters
        self._next_index = first_index
        self._free: list[int] = []
        self._ring: FrameRing | None = None
        self._last_thumb: Image | None = None
        self._shrunk: set[tuple[int, ...]] = set()  # frame sizes read shrunk, said once each
        self._live = False
        self._realtime = False

    def run(self) -> None:
        try:
            source = self._opener(self._next_index)
        except SourceError as exc:
            self._conn.send(Ended(str(exc), failed=True))
            return
        try:
            self._stream(source)
        except _Stop:
            self._conn.send(Ended("stopped"))
        finally:
            if self._ring is not None:
                self._ring.close()

    def _stream(self, source: FrameSource) -> None:
        frames = iter(source)
        first = next(frames, None)
        if first is None:
            source.close()
            self._conn.send(Ended(f"{source.description} gave no frames", failed=True))
            return
        self._live = source.live
        self._realtime = source.realtime
        image = grayscale(first.image)
        shape = _slot_shape(image.shape[:2], source.largest)
        self._conn.send(Opened(source.description, source.fps, source.live, shape))
        self._attach(self._receive())
        self._deliver(first, image, 0)
        while True:
            ended = self._pump(source, frames)
            source.close()
            if ended:
                self._conn.send(Ended(f"end of {source.description}"))
                return
            reopened = self._reopen(source.description)
            if reopened is None:
                return
            source, frames = reopened, iter(reopened)

    def _pump(self, source: FrameSource, frames: Iterator[Frame]) -> bool:
        """Deliver frames until the source ends (True) or fails or stalls (False)."""
        offset = self._next_index if source.live else 0
        dropped, skipped = source.dropped, source.skipped
        try:
            for frame in frames:
                self._counters[DROPPED] += source.dropped - dropped
                self._counters[SKIPPED] += source.skipped - skipped
                dropped, skipped = source.dropped, source.skipped
                self._deliver(frame, grayscale(frame.image), offset)
        except (SourceError, cv2.error, OSError) as exc:
            self._notice("failed", f"{source.description} failed: {exc}")
            return False
        finally:  # what the source skipped or dropped after its last frame
            self._counters[DROPPED] += source.dropped - dropped
            self._counters[SKIPPED] += source.skipped - skipped
        if source.live:
            self._notice("failed", f"{source.description} stopped delivering frames")
            return False
        return True

    def _reopen(self, description: str) -> FrameSource | None:
        """The source again, after waiting out the backoff; None when a file gives up."""
        config = self._config
        # A ceiling set below the first delay leaves the first delay as the only one.
        backoff = Backoff(config.backoff_s, max(config.backoff_s, config.backoff_max_s))
        for attempt in itertools.count(1):
            self._wait(backoff.next_delay())
            try:
                source = self._opener(self._next_index)
            except SourceError as exc:
                self._counters[FAILURES] += 1
                logger.warning("reopening %s failed (attempt %d): %s", description, attempt, exc)
                if not self._live and attempt >= MAX_FILE_REOPENS:
                    self._notice("gave-up", f"{description}: {exc}")
                    self._conn.send(Ended(f"{description} failed: {exc}", failed=True))
                    return None
                continue
            self._counters[RECONNECTS] += 1
            self._notice(
                "reconnected", f"{source.description} reopened at frame {self._next_index}"
            )
            return source
        return None  # pragma: no cover - count() never ends

    def _deliver(self, frame: Frame, image: Image, offset: int) -> None:
        index = frame.index + offset
        self._next_index = index + 1
        self._counters[HEARTBEAT] = time.monotonic()
        if self._skip_still and self._is_still(image):
            self._conn.send(Captured(None, index, frame.wall, frame.mono, image.shape[:2]))
            self._counters[STILL] += 1
            return
        slot = self._take_slot(block=not self._realtime)
        if slot is None:
            self._counters[DROPPED] += 1
            return
        if self._ring is None:
            raise RuntimeError("a frame to deliver before the ring was attached")
        shape = self._ring.write(slot, image)
        if shape != image.shape[:2]:
            self._report_shrunk(index, image.shape[:2], shape)
        self._conn.send(Captured(slot, index, frame.wall, frame.mono, shape))
        self._counters[CAPTURED] += 1

    def _report_shrunk(self, index: int, size: tuple[int, ...], shape: tuple[int, int]) -> None:
        """Say, once per size, that frames larger than a ring slot are read shrunk (a
        camera that came back at a higher resolution than it opened with)."""
        if size in self._shrunk:
            return
        self._shrunk.add(size)
        logger.warning(
            "frame %d is %dx%d, more than a ring slot holds: read shrunk to %dx%d",
            index, size[1], size[0], shape[1], shape[0],
        )  # fmt: skip

    def _is_still(self, image: Image) -> bool:
        thumb = shrink(image, _STILL_HALVINGS)
        previous, self._last_thumb = self._last_thumb, thumb
        if previous is None or previous.shape != thumb.shape:
            return False
        if int(cv2.absdiff(previous, thumb).max()) <= STILL_LEVEL:
            self._last_thumb = previous  # compare with the last frame sent, not this one
            return True
        return False

    def _take_slot(self, *, block: bool) -> int | None:
        self._drain(timeout=0.0)
        while block and not self._free:
            self._counters[HEARTBEAT] = time.monotonic()
            self._drain(timeout=TICK_S)
        return self._free.pop() if self._free else None

    def _drain(self, timeout: float) -> None:
        """Take in what the scanner sent: free slots, or a stop request."""
        if not self._conn.poll(timeout):
            return
        while True:
            self._handle(self._conn.recv())
            if not self._conn.poll():
                return

    def _receive(self) -> Any:
        while not self._conn.poll(TICK_S):
            self._counters[HEARTBEAT] = time.monotonic()
        return self._conn.recv()

    def _handle(self, message: Any) -> None:
        if message is None:
            raise _Stop
        if isinstance(message, int):
            self._free.append(message)
        elif isinstance(message, list):
            self._free.extend(message)

    def _attach(self, message: Any) -> None:
        if message is None:
            raise _Stop
        ready: RingReady = message
        self._ring = FrameRing.attach(ready.name, ready.slots, ready.slot_shape)
        self._free = list(ready.free)

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, staying alive and stoppable."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._counters[HEARTBEAT] = time.monotonic()
            self._drain(timeout=min(left, TICK_S))

    def _notice(self, kind: str, message: str) -> None:
        if kind == "failed":
            self._counters[FAILURES] += 1
        self._conn.send(Notice(kind, message, time.monotonic()))
