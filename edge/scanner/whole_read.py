"""The whole frame decoded at once, where the located regions read nothing and time allows.

The frame reader decodes only what the locator takes for a code (see
:mod:`linetrace.edge.vision.reader`): fast on a belt, but a tightly cut photo, mostly code
and little margin, may hold no region the locator finds, or regions that read nothing,
where a plain decode of the whole image reads the code. Decoding every such frame whole
would cost a live line most of its speed (an empty belt reads nothing in every frame), so
it is done only where no other frame follows soon:

* a still frame after a read frame that read nothing: the item stopped under the camera,
  and the frames to come are the same picture (once per stop);
* the end of the stream after such a frame: a single photo, the last frame of a file;
* every frame of a photo source (an image, a folder of images), each a picture of its own.

:class:`WholeRead` keeps a copy of the last read frame while it read nothing (a grey
frame's bytes, cheap beside its decode) and hands it over once.
A photo source's pictures get more tries where the plain decode reads nothing
(:mod:`linetrace.edge.vision.picture_read`); a camera's still scenes do not.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from linetrace.edge.camera.capture_messages import SourceOpener, SourceSpec
from linetrace.edge.camera.stills import IMAGE_SUFFIXES
from linetrace.edge.vision.reading import Reading

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["Unread", "WholeRead", "photo_source", "with_whole"]


@dataclass(frozen=True, slots=True)
class Unread:
    """A read frame whose regions read nothing: its number, time and picture."""

    index: int
    mono: float
    wall: datetime
    image: Image


class WholeRead:
    """Keeps the last read frame while it read nothing, for one whole-frame decode."""

    def __init__(self) -> None:
        self._unread: Unread | None = None

    @staticmethod
    def wanted(reading: Reading) -> bool:
        """Whether a frame read as ``reading`` read nothing, not even a carried label."""
        return not reading.symbols and all(s.carried is None for s in reading.sightings)

    def keep(self, index: int, mono: float, wall: datetime, image: Image, reading: Reading) -> None:
        """Remember read frame ``index`` if it read nothing; forget the one before."""
        if self.wanted(reading):
            copy = np.array(image, dtype=np.uint8, copy=True)
            self._unread = Unread(index, mono, wall, copy)
        else:
            self._unread = None

    def peek(self) -> Unread | None:
        """The frame kept, if any, still kept."""
        return self._unread

    def take(self) -> Unread | None:
        """The frame kept, once: a still scene or the end asks for it a single time."""
        unread, self._unread = self._unread, None
        return unread


def with_whole(reading: Reading, whole: Reading) -> Reading:
    """``reading`` with what the whole-frame ``whole`` read, as loose symbols: each is
    confirmed from a view around itself, not around a region that did not read it, and
    the regions that hold them are told apart (:meth:`RegionTracker.record_whole`)."""
    return Reading(
        reading.sightings,
        reading.loose + tuple(whole.symbols),
        reading.seconds + whole.seconds,
        reading.attempts + whole.attempts,
    )


def photo_source(source: SourceOpener) -> bool:
    """Whether ``source`` is separate pictures (an image file, a folder of images), not
    the frames of a video or a camera."""
    if not isinstance(source, SourceSpec) or source.realtime:
        return False
    path = Path(source.spec)
    return path.is_dir() or (path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES)
