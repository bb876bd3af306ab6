"""What every frame source is: an iterator of stamped frames that owns its handle.

The concrete sources (a camera, a stream, a video file, images on disk) and the spec that
picks one are in :mod:`linetrace.edge.camera.sources`; the capture process and the
pre-flight check only need this shape.
"""

from __future__ import annotations

import time
from abc import abstractmethod
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from types import TracebackType
from typing import TYPE_CHECKING, Self

from linetrace.edge.camera.frame import Frame
from linetrace.errors import LinetraceError

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["FrameClock", "FrameSource", "Pacer", "SourceError"]


class SourceError(LinetraceError):
    """A source that cannot be opened or read; the message says what to check."""


class FrameSource(Iterator[Frame]):
    """Frames from one source, in capture order; owns its handle until :meth:`close`."""

    def __init__(
        self, description: str, fps: float | None, *, live: bool = False, realtime: bool = False
    ) -> None:
        self.description = description
        self.fps = fps  # nominal frames per second; None when the source does not say
        self.live = live  # a camera or stream: no position, no end, may stall
        # Frames come at their own pace (live, or a file played in real time), so a reader
        # that falls behind loses frames rather than slowing the source down.
        self.realtime = live or realtime
        self.skipped = 0  # unreadable images passed over
        # The most pixels (as height, width) any frame will have, where known before the
        # first (a folder of images of different sizes); None: as many as the first.
        self.largest: tuple[int, int] | None = None
        self.dropped = 0  # frames skipped to keep real-time pace
        self._frames: Iterator[Frame] | None = None

    def __next__(self) -> Frame:
        if self._frames is None:
            self._frames = self._generate()
        return next(self._frames)

    @abstractmethod
    def _generate(self) -> Iterator[Frame]: ...

    def close(self) -> None:
        """Release the file or device; further iteration ends at once."""
        self._frames = iter(())

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.description}>"


class FrameClock:
    """Stamps frames: media time for offline reading, wall and monotonic time when live."""

    def __init__(self, zone: tzinfo, start: datetime | None, *, live: bool) -> None:
        self.zone = zone
        self.live = live
        if start is None:
            start = datetime.now(zone)
        self.start = start.replace(tzinfo=zone) if start.tzinfo is None else start.astimezone(zone)

    def stamp(self, image: npt.NDArray[np.uint8], index: int, media_s: float) -> Frame:
        if self.live:
            return Frame(image, index, datetime.now(self.zone), time.monotonic())
        return Frame(image, index, self.start + timedelta(seconds=media_s), media_s)


class Pacer:
    """Keeps a file's playback on its frame rate, as a camera would deliver it."""

    def __init__(self, media_s: float = 0.0) -> None:
        """``media_s``: where in the file playback starts (resuming after a failure)."""
        self._origin = time.monotonic() - media_s

    def lateness(self, media_s: float) -> float:
        """Seconds behind schedule for the frame at ``media_s``; sleeps when early."""
        ahead = self._origin + media_s - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
            return 0.0
        return -ahead
