"""What the capture process and the scanner say to each other, and the source they share.

The scanner's side (:mod:`linetrace.edge.camera.capture`) and the process's side
(:mod:`linetrace.edge.camera.capture_process`) meet only here: the messages that cross
the pipe, the counters kept in shared memory, and the picklable way to open a source.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import Protocol

from linetrace.edge.camera.frame_source import FrameSource
from linetrace.edge.camera.settings import DEFAULT_READ_TIMEOUT_S
from linetrace.edge.camera.sources import open_source

__all__ = [
    "CAPTURED",
    "COUNTERS",
    "DROPPED",
    "FAILURES",
    "HEARTBEAT",
    "RECONNECTS",
    "SKIPPED",
    "STILL",
    "TICK_S",
    "Captured",
    "Ended",
    "Notice",
    "Opened",
    "RingReady",
    "SourceOpener",
    "SourceSpec",
    "media_timed",
]

# How often a waiting capture checks for stop requests and marks itself alive, seconds.
TICK_S = 0.1


class SourceOpener(Protocol):
    """Opens the source at frame ``first_index``; must be picklable (it crosses processes)."""

    def __call__(self, first_index: int) -> FrameSource: ...


def media_timed(spec: str, *, realtime: bool) -> bool:
    """Whether a source of this spec is stamped with media time: a file or folder scanned
    fast. Anything live, or played in real time, carries the clocks of its arrival."""
    path = Path(spec)
    return not realtime and (path.is_file() or path.is_dir())


@dataclass(frozen=True)
class SourceSpec:
    """A source by its spec string, as :func:`~linetrace.edge.camera.sources.open_source` takes it.

    An offline file's start time is fixed when the spec is made, so a file reopened after
    a failure keeps its times. ``first_frame`` starts a file or folder there (frames
    before it are never delivered, and the rest keep the times they have in the file);
    live sources have no position and ignore it.
    """

    spec: str
    realtime: bool = False
    utc_offset: timedelta | tzinfo | None = None
    start: datetime | None = None
    fps: float | None = None
    luma: bool = True  # decoding needs grayscale only
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S  # a live stream silent this long has stalled
    first_frame: int = 0

    @property
    def media_timed(self) -> bool:
        """Whether frames carry the media's own times (a file or folder scanned fast)
        rather than the wall clock and ``time.monotonic()`` of their arrival."""
        return media_timed(self.spec, realtime=self.realtime)

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
            # A reopening after a failure resumes past first_frame already.
            first_index=max(first_index, self.first_frame),
            luma=self.luma,
            read_timeout_s=self.read_timeout_s,
        )


@dataclass(frozen=True, slots=True)
class Opened:
    """The source opened: the capture process's first message."""

    description: str
    fps: float | None
    live: bool
    shape: tuple[int, int]


@dataclass(frozen=True, slots=True)
class RingReady:
    """The scanner's answer to :class:`Opened`: the ring to write into, and its free slots."""

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
COUNTERS = 7
