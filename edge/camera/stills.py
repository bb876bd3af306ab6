"""Images on disk as frame sources: one still image, or a folder of them in name order.

Each image is read at its own size; the folder says up front how large the largest is,
from the files' headers, so the frame ring holds it whole. An image that cannot be read
is skipped with a warning and counted in ``skipped``, never fatal.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.frame_source import FrameClock, FrameSource, Pacer, SourceError

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["DEFAULT_FOLDER_FPS", "IMAGE_SUFFIXES", "FolderSource", "ImageSource"]

logger = logging.getLogger(__name__)

# The still-image formats OpenCV's imread reads in every build.
IMAGE_SUFFIXES = frozenset(
    {".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".pbm", ".pgm", ".ppm"}
)
# A folder of stills is usually one image per trigger: one second apart keeps each image
# its own moment, so only consecutive images of a code join into one passage. Pass the
# real rate (e.g. for frames dumped from a video) to time them as they were taken.
DEFAULT_FOLDER_FPS = 1.0


class ImageSource(FrameSource):
    """One still image: a single frame."""

    def __init__(self, path: Path, clock: FrameClock) -> None:
        super().__init__(f"image {path}", None)
        image = _imread(path)
        if image is None:
            raise SourceError(f"cannot read image {path}: not an image OpenCV can decode")
        self._image = image
        self._clock = clock

    def _generate(self) -> Iterator[Frame]:
        yield self._clock.stamp(self._image, 0, 0.0)


class FolderSource(FrameSource):
    """The images of a folder in name order, at a fixed frame rate."""

    def __init__(
        self, folder: Path, clock: FrameClock, fps: float, *, realtime: bool, first_index: int = 0
    ) -> None:
        super().__init__(f"folder {folder}", fps, realtime=realtime)
        self._first_index = first_index
        self._paths = sorted(
            path
            for path in folder.iterdir()
            if path.suffix.lower() in IMAGE_SUFFIXES and path.is_file()
        )
        if not self._paths:
            raise SourceError(
                f"folder {folder} holds no images (looked for {', '.join(sorted(IMAGE_SUFFIXES))})"
            )
        self._clock = clock
        self._realtime = realtime
        self.largest = _largest(self._paths[first_index:])

    def _generate(self) -> Iterator[Frame]:
        interval = 1.0 / (self.fps or DEFAULT_FOLDER_FPS)
        first = self._first_index
        pacer = Pacer(first * interval) if self._realtime else None
        for index, path in enumerate(self._paths[first:], start=first):
            media_s = index * interval
            if pacer is not None and pacer.lateness(media_s) > interval:
                self.dropped += 1  # as a camera would: the moment has passed
                continue
            image = _imread(path)
            if image is None:
                self.skipped += 1
                logger.warning("skipped %s: not an image OpenCV can decode", path)
                continue
            yield self._clock.stamp(image, index, media_s)


def _largest(paths: list[Path]) -> tuple[int, int] | None:
    """The largest of the images' sizes (height, width) by pixels, from their headers
    (Pillow reads no pixels for it); an image Pillow cannot size is decoded to measure it."""
    from PIL import Image, UnidentifiedImageError

    largest: tuple[int, int] | None = None
    for path in paths:
        try:
            with Image.open(path) as image:
                width, height = image.size
        except (OSError, UnidentifiedImageError, Image.DecompressionBombError, ValueError):
            decoded = _imread(path)
            if decoded is None:
                continue  # skipped with a warning when its turn comes
            height, width = decoded.shape[:2]
        if largest is None or height * width > largest[0] * largest[1]:
            largest = (height, width)
    return largest


def _imread(path: Path) -> npt.NDArray[np.uint8] | None:
    # imdecode on bytes read by Python: unlike imread it handles any file name and
    # reports unreadable files only by returning None.
    try:
        data = np.fromfile(path, dtype=np.uint8)
    except OSError as exc:
        logger.warning("cannot read %s: %s", path, exc)
        return None
    if data.size == 0:
        return None
    image = cv2.imdecode(data, cv2.IMREAD_COLOR)
    return None if image is None else np.asarray(image, dtype=np.uint8)
