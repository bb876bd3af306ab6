"""Capture: one process per camera, frames into a bounded shared-memory ring, never blocked.

The capture process owns the source. It stamps each frame at capture (the source does:
wall clock in the station's offset and monotonic time, or media time for a file read as
fast as possible), turns it to grayscale (all decoding needs; a third of the bytes to
move), writes it into a free slot of the :class:`~linetrace.edge.ring.FrameRing` and
sends the slot's number to the scanner, which hands the slot back once the frame is
decoded and tracked.

Two ways to run, chosen by how the source is played:

* live (a camera, a stream, a file played in real time): a camera does not wait. When no
  slot is free, because decoding has fallen behind, the frame is dropped and counted;
  capture itself never blocks on the decoders.
* as fast as possible (a file scanned offline): nothing is dropped; capture waits for a
  free slot (back-pressure), so an offline scan sees every frame, as the line would have.

A frame that has not changed since the last one sent (a stopped line) is sent as *still*,
without a slot: the scanner carries the last reading over instead of decoding it again.

The watchdog: a source that fails (raises) or stalls (a live source's read times out,
ending its frames) is closed and reopened with exponential backoff, and each failure and
recovery is reported to the scanner as a :class:`Notice` and counted. A file resumes at
the frame after the last one delivered. A capture process that dies or hangs (no progress
for ``stall_s``) is killed and started again by the scanner (:meth:`Capture.check`).
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import multiprocessing
import signal
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING, Any, Protocol

import cv2
import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from linetrace.edge.locate import shrink
from linetrace.edge.model import Frame
from linetrace.edge.reader import grayscale
from linetrace.edge.ring import FrameRing
from linetrace.edge.sources import FrameSource, SourceError, open_source

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.sharedctypes import SynchronizedArray

    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = [
    "Capture",
    "CaptureConfig",
    "Captured",
    "Ended",
    "Notice",
    "SourceOpener",
    "SourceSpec",
]

logger = logging.getLogger(__name__)

# Eight frames is a quarter second at 30 fps: enough to ride out a slow frame or two in the
# decoders, short enough that a frame is never decoded long after it was taken.
DEFAULT_RING_SLOTS = 8
# Reopening a failed camera: soon at first (a glitch), then less and less often (a
# camera that is unplugged or rebooting), never more than a minute apart.
DEFAULT_BACKOFF_S = 0.5
DEFAULT_BACKOFF_MAX_S = 30.0
# A capture process that makes no progress for this long is hung in a driver call and is
# restarted; three times the stream read timeout, so a stream that merely stalls is
# handled by reopening it first.
DEFAULT_STALL_S = 15.0
# A file that keeps failing is given up after this many reopenings: unlike a camera, it
# will not come back by itself.
MAX_FILE_REOPENS = 5
# A frame is still when no 16x16 block of it changed by more than this many grey levels
# on average: sensor noise of 10 levels moves such a block by under 2, a label moving by
# a pixel moves the blocks on its edges by 10 and more.
STILL_LEVEL = 6
_STILL_HALVINGS = 4  # 16 = 2^4
# How often a waiting capture checks for stop requests and marks itself alive, seconds.
_TICK_S = 0.1
_SPAWN = multiprocessing.get_context("spawn")


class CaptureConfig(BaseModel):
    """How frames are captured and how a failing source is retried."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    ring_slots: int = Field(
        default=DEFAULT_RING_SLOTS,
        ge=2,
        le=256,
        description="Frames the shared-memory ring holds between capture and decoding; when "
        "all are taken a live source drops frames (counted) instead of waiting.",
    )
    backoff_s: float = Field(
        default=DEFAULT_BACKOFF_S,
        gt=0.0,
        le=60.0,
        description="Seconds before the first attempt to reopen a failed or stalled source; "
        "each further failure doubles it.",
    )
    backoff_max_s: float = Field(
        default=DEFAULT_BACKOFF_MAX_S,
        gt=0.0,
        le=3600.0,
        description="The longest wait between two attempts to reopen a source.",
    )
    stall_s: float = Field(
        default=DEFAULT_STALL_S,
        gt=0.0,
        le=3600.0,
        description="Seconds without progress after which the capture process is considered "
        "hung (e.g. in a camera driver) and is restarted.",
    )


class SourceOpener(Protocol):
    """Opens the source at frame ``first_index``; must be picklable (it crosses processes)."""

    def __call__(self, first_index: int) -> FrameSource: ...


@dataclass(frozen=True)
class SourceSpec:
    """A source by its spec string, as :func:`~linetrace.edge.sources.open_source` takes it.

    An offline file's start time is fixed when the spec is made, so a file reopened after
    a failure keeps its times.
    """

    spec: str
    realtime: bool = False
    utc_offset: timedelta | tzinfo | None = None
    start: datetime | None = None
    fps: float | None = None
    luma: bool = True  # decoding needs grayscale only

    def __post_init__(self) -> None:
        if self.start is None and not self.realtime:
            object.__setattr__(self, "start", datetime.now().astimezone())

    def __call__(self, first_index: int) -> FrameSource:
        return open_source(
            self.spec,
            realtime=self.realtime,
            utc_offset=self.utc_offset,
            start=self.start,
            fps=self.fps,
            first_index=first_index,
            luma=self.luma,
        )


# --- messages between the capture process and the scanner ----------------------------


@dataclass(frozen=True, slots=True)
class _Opened:
    description: str
    fps: float | None
    live: bool
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class _RingReady:
    name: str
    slots: int
    slot_shape: tuple[int, int]
    free: tuple[int, ...]  # the slots the scanner does not hold


@dataclass(frozen=True, slots=True)
class Captured:
    """One frame: in ``slot`` of the ring, or ``slot`` None when it is still."""

    slot: int | None
    index: int
    wall: datetime
    mono: float
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class Notice:
    """Something the watchdog did: ``kind`` is failed, reconnected, restarted or gave-up."""

    kind: str
    message: str
    at: float  # monotonic time


@dataclass(frozen=True, slots=True)
class Ended:
    """The source has no more frames (a file's end, or a stop request)."""

    reason: str
    failed: bool = False


# Counters the capture process keeps in shared memory for the scanner to read.
CAPTURED, DROPPED, STILL, SKIPPED, RECONNECTS, FAILURES, HEARTBEAT = range(7)
_COUNTERS = 7


# --- the capture process ----------------------------------------------------------------


def _capture_main(
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
    logging.basicConfig(level=log_level, format="%(levelname)s %(name)s: %(message)s")
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
        self._conn.send(_Opened(source.description, source.fps, source.live, image.shape[:2]))
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
        if source.live:
            self._notice("failed", f"{source.description} stopped delivering frames")
            return False
        return True

    def _reopen(self, description: str) -> FrameSource | None:
        """The source again, after waiting out the backoff; None when a file gives up."""
        delay = self._config.backoff_s
        for attempt in itertools.count(1):
            self._wait(delay)
            try:
                source = self._opener(self._next_index)
            except SourceError as exc:
                self._counters[FAILURES] += 1
                logger.warning("reopening %s failed (attempt %d): %s", description, attempt, exc)
                if not self._live and attempt >= MAX_FILE_REOPENS:
                    self._notice("gave-up", f"{description}: {exc}")
                    self._conn.send(Ended(f"{description} failed: {exc}", failed=True))
                    return None
                delay = min(delay * 2, self._config.backoff_max_s)
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
        assert self._ring is not None
        shape = self._ring.write(slot, image)
        self._conn.send(Captured(slot, index, frame.wall, frame.mono, shape))
        self._counters[CAPTURED] += 1

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
            self._drain(timeout=_TICK_S)
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
        while not self._conn.poll(_TICK_S):
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
        ready: _RingReady = message
        self._ring = FrameRing.attach(ready.name, ready.slots, ready.slot_shape)
        self._free = list(ready.free)

    def _wait(self, seconds: float) -> None:
        """Sleep ``seconds``, staying alive and stoppable."""
        deadline = time.monotonic() + seconds
        while (left := deadline - time.monotonic()) > 0:
            self._counters[HEARTBEAT] = time.monotonic()
            self._drain(timeout=min(left, _TICK_S))

    def _notice(self, kind: str, message: str) -> None:
        if kind == "failed":
            self._counters[FAILURES] += 1
        self._conn.send(Notice(kind, message, time.monotonic()))


# --- the scanner's side -----------------------------------------------------------------


@dataclass(slots=True)
class CaptureCounts:
    """What capture has done so far."""

    captured: int = 0
    dropped: int = 0
    still: int = 0
    skipped: int = 0
    reconnects: int = 0
    failures: int = 0
    restarts: int = 0


class Capture:
    """The capture process as the scanner sees it: start, receive frames, hand slots back.

    Not thread-safe: one thread (the scanner's loop) drives it.
    """

    def __init__(
        self,
        opener: SourceOpener,
        config: CaptureConfig,
        *,
        skip_still: bool,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self._opener = opener
        self._config = config
        self._skip_still = skip_still
        self._on_notice = on_notice
        self._counters: SynchronizedArray[float] = _SPAWN.Array("d", _COUNTERS, lock=False)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.ring: FrameRing | None = None
        self.description = ""
        self.fps: float | None = None
        self.live = False
        self.ended: Ended | None = None
        self._held: set[int] = set()  # slots the scanner holds (sent to it, not returned)
        self._broken = False  # the pipe to the process is closed: it died
        self._last_index = -1
        self._restarts = 0

    @property
    def connection(self) -> Connection:
        assert self._conn is not None, "capture not started"
        return self._conn

    @property
    def pid(self) -> int | None:
        """The capture process's id, while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the process may still send frames."""
        return self._conn is not None and self.ended is None and not self._broken

    def request_stop(self) -> None:
        """Ask the process to stop capturing; it answers with :class:`Ended`."""
        if self.running:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                self.connection.send(None)

    def start(self) -> None:
        """Start the process and open the source; :class:`SourceError` if it cannot."""
        opened = self._spawn(first_index=0)
        self.description, self.fps, self.live = opened.description, opened.fps, opened.live
        self.ring = FrameRing.create(self._config.ring_slots, opened.shape)
        free = tuple(range(self.ring.slots))
        self.connection.send(_RingReady(self.ring.name, self.ring.slots, opened.shape, free))
        logger.info("capturing %s (%dx%d)", self.description, opened.shape[1], opened.shape[0])

    def _spawn(self, first_index: int) -> _Opened:
        parent, child = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(
            target=_capture_main,
            args=(
                self._opener,
                self._config,
                self._skip_still,
                child,
                self._counters,
                first_index,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="linetrace-capture",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn, self._broken = process, parent, False
        self._counters[HEARTBEAT] = time.monotonic()
        first = self._first_message(parent, process)
        if isinstance(first, Ended):
            self._join()
            raise SourceError(first.reason)
        return first

    def _first_message(self, conn: Connection, process: BaseProcess) -> _Opened | Ended:
        while not conn.poll(_TICK_S):
            if not process.is_alive():
                return Ended("the capture process died while opening the source", failed=True)
        try:
            message = conn.recv()
        except EOFError:
            return Ended("the capture process died while opening the source", failed=True)
        if isinstance(message, (_Opened, Ended)):
            return message
        return Ended(f"unexpected first message from capture: {message!r}", failed=True)

    def receive(self) -> list[Captured]:
        """The frames (and still frames) sent since the last call; handles notices."""
        frames: list[Captured] = []
        if not self.running:
            return frames
        conn = self.connection
        try:
            while conn.poll():
                message = conn.recv()
                if isinstance(message, Captured):
                    self._last_index = message.index
                    if message.slot is not None:
                        self._held.add(message.slot)
                    frames.append(message)
                elif isinstance(message, Notice):
                    self._notify(message)
                elif isinstance(message, Ended):
                    self.ended = message
        except (EOFError, ConnectionResetError):
            self._broken = True  # the process died; check() restarts it
        return frames

    def release(self, slot: int) -> None:
        """Hand ``slot`` back to the capture process."""
        self._held.discard(slot)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            self.connection.send(slot)

    def check(self) -> None:
        """The watchdog's outer half: restart a capture process that died or hangs."""
        if self.ended is not None or self._process is None:
            return
        alive = self._process.is_alive()
        silent = time.monotonic() - self._counters[HEARTBEAT]
        if alive and silent <= self._config.stall_s:
            return
        why = "died" if not alive else f"made no progress for {silent:.0f} s"
        self._notify(Notice("restarted", f"capture of {self.description} {why}", time.monotonic()))
        self._restart()

    def _restart(self) -> None:
        self._kill()
        self._restarts += 1
        try:
            self._spawn(first_index=self._last_index + 1)
        except SourceError as exc:
            self._notify(Notice("failed", str(exc), time.monotonic()))
            self.ended = Ended(str(exc), failed=True)
            return
        ring = self.ring
        assert ring is not None
        free = tuple(slot for slot in range(ring.slots) if slot not in self._held)
        self.connection.send(_RingReady(ring.name, ring.slots, ring.slot_shape, free))

    def counts(self) -> CaptureCounts:
        c = self._counters
        return CaptureCounts(
            captured=int(c[CAPTURED]),
            dropped=int(c[DROPPED]),
            still=int(c[STILL]),
            skipped=int(c[SKIPPED]),
            reconnects=int(c[RECONNECTS]),
            failures=int(c[FAILURES]),
            restarts=self._restarts,
        )

    def _notify(self, notice: Notice) -> None:
        log = logger.info if notice.kind == "reconnected" else logger.warning
        log("capture %s: %s", notice.kind, notice.message)
        if self._on_notice is not None:
            self._on_notice(notice)

    def stop(self) -> None:
        """Stop the process and release the ring; safe to call more than once."""
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                self._conn.send(None)
        self._join()
        if self.ring is not None:
            self.ring.close()
            self.ring = None

    def _join(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        self._join()
