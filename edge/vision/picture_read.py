"""More tries at a photo, where the plain whole read found nothing.

A photo (an image file, each image of a folder) is read whole (see
:mod:`linetrace.edge.scanner.whole_read`); no later frame gives the code another chance.
On the real photographs of ``bench/edge_photos.py`` a plain zxing-cpp read of such a
picture misses codes that two other tries read:

* the station's own decoder at half the size: a label so near the lens that its bars are
  soft reads sharper smaller (zxing-cpp only tries smaller copies of large images);
* the other decoder at the picture's own size: zbar's scan lines read a good share of the
  EAN/UPC and QR photos that zxing-cpp reads nothing in, and the other way round.

These run only for a photo the plain read found nothing in. A camera's still scene (an
item stopped under it) keeps the plain whole read: most still scenes of a line are an
empty belt, where what a second decoder reads has not been measured, while the still
items of ``bench/edge_photos.py`` already read at least as many as the plain read there.
A linear code found this way is confirmed like any other read of a single view (:mod:`linetrace.edge.line.confirm`), and one found
only by the other decoder needs one agreeing second read more
(:meth:`linetrace.edge.vision.second_read.SecondReader.owed`): zbar reads a UPC-E out of
the print beside a worn UPC-A now and then, and its own read at another scale repeats it.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.decode import Decoder, Symbol, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import FORMATS, DecoderError

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy.typing as npt

    from linetrace.edge.vision.settings import PipelineConfig

    Image = npt.NDArray[np.uint8]

__all__ = ["HALF", "MIN_HALF_SIDE_PX", "PictureTries"]

logger = logging.getLogger(__name__)

HALF = 0.5
# A picture whose shorter side would fall below this at half size is not halved: its
# codes would be too few pixels across to read.
MIN_HALF_SIDE_PX = 2 * 64


class PictureTries:
    """The tries after a plain whole read of a picture found nothing, in order: the
    station's decoder at half size, then the other decoder at full size."""

    def __init__(self, config: PipelineConfig, formats: Sequence[str], station: Decoder) -> None:
        self._station = station
        self._other = _other_decoder(config, formats)

    def read(self, work: Image) -> tuple[list[Symbol], float, int]:
        """What the first try that reads anything in ``work`` (grey, the reader's working
        image) reads, in ``work``'s pixels, the scale it was read at, and the decoder
        calls made."""
        calls = 0
        if min(work.shape[:2]) >= MIN_HALF_SIDE_PX:
            calls += 1
            half = cv2.resize(work, None, fx=HALF, fy=HALF, interpolation=cv2.INTER_AREA)
            found = self._station.decode(np.ascontiguousarray(half, dtype=np.uint8))
            if found:
                return found, HALF, calls
        if self._other is not None:
            calls += 1
            found = self._other.decode(work)
            if found:
                return found, 1.0, calls
        return [], 1.0, calls


def _other_decoder(config: PipelineConfig, formats: Sequence[str]) -> Decoder | None:
    """The decoder the station does not read with, for the formats it can read; None
    where it cannot start or reads none of them (the half-size try then stands alone)."""
    try:
        if config.backend == "zbar":
            return ZxingDecoder(formats, try_rotate=config.try_rotate, try_invert=config.try_invert)
        readable = tuple(name for name in formats if FORMATS.get(name) is not None)
        return ZbarDecoder(readable) if readable else None
    except DecoderError as exc:
        logger.warning("no second decoder for whole pictures: %s", exc)
        return None
