"""A second, independent read of a linear symbol: the look that confirms it when no other
frame can.

A linear code read in one frame can be a misread whose check digit fits by chance, so the
line stage counts it only once a second read agrees (:mod:`linetrace.edge.line.confirm`).
On a moving belt the next frames give that read. A still scene (an item stopped under the
camera: its unchanged frames are not read again), a single photograph, or the last frame
of a file give none, and reading the same pixels again the same way would only repeat a
misread. So the view the first read came from is read again by decoders that share
nothing with the frame reader's tries: zbar, another scan-line algorithm altogether, and
zxing-cpp with the global-histogram binarizer (which the frame reader never uses) on the
view at another scale, where the edges fall elsewhere between pixels. A station that reads
with zbar gets zxing-cpp first.

The view is kept as a small copy of the frame around the read (:func:`cut_view`), since
the frame itself goes back to the capture ring at once; it is read again only when a
passage needs it, which on a moving line is almost never.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.camera.images import grayscale
from linetrace.edge.vision.cutouts import with_bars
from linetrace.edge.vision.decode import Decoder, Symbol, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import FORMATS, DecoderError
from linetrace.edge.vision.locate import MARGIN_PX, Region, rectify

if TYPE_CHECKING:
    import numpy.typing as npt

    from linetrace.edge.vision.settings import PipelineConfig

    Image = npt.NDArray[np.uint8]

__all__ = ["SECOND_SCALE", "SecondReader", "View", "cut_view", "family", "upright"]

logger = logging.getLogger(__name__)

# zxing-cpp's second look is at one and a half times the size (bicubic): bar edges land
# between other pixels than in the first read, and modules of 1.5 px grow past 2.
SECOND_SCALE = 1.5
# The looks a second read takes, in order: (decoder, scale, upright). ``upright`` reads
# the region's rows turned so the bars stand; otherwise the whole view as cut (more rows,
# and the code's own angle, for decoders that search every direction). Each reads pixels
# the frame reader's tries never read that way: zbar's scan lines, zxing-cpp's
# global-histogram binarizer; zbar at twice the size reads bars thinner than it can at
# their own, and the whole view keeps the rows a tight region cut off. On the real
# photographs of bench/edge_photos.py the last three looks confirmed codes the first two
# missed; none of them confirmed a misread there (another code read is a dispute).
LOOKS: tuple[tuple[str, float, bool], ...] = (
    ("zbar", 1.0, True),
    ("zxing", SECOND_SCALE, True),
    ("zbar", 2.0, True),
    ("zbar", 1.0, False),
    ("zxing", 1.0, False),
)
# Room kept around a located region: a linear code's quiet zone (up to 11 modules, 22 px
# at 2 px a module) beyond the region's outline, which may end a cell and a half inside
# the bars.
VIEW_MARGIN_PX = 2 * MARGIN_PX
# Room kept around a symbol read without a region (whole-frame decoding), as a share of its
# diagonal: its quiet zones along, and the bars' height across a position that may be a
# single scan line.
LOOSE_MARGIN = 0.3
# The formats that one printed code can be reported as: a UPC-A is an EAN-13 with a
# leading zero to some decoders, a UPC-E an expanded UPC-A, an ITF-14 an ITF.
_FAMILIES = (("EAN13", "UPCA", "UPCE", "EAN8"), ("ITF14", "ITF"))


@dataclass(frozen=True, slots=True)
class View:
    """A grey copy of a frame around one linear read, and the located region in its pixels
    (None for a read without one)."""

    image: Image
    region: Region | None


def cut_view(image: Image, symbol: Symbol, region: Region | None) -> View:
    """A copy of ``image`` (frame pixels) around ``symbol``: its located ``region`` with
    room for the quiet zones, or the symbol's own corners widened where it has none."""
    gray = grayscale(image)
    height, width = gray.shape[:2]
    if region is not None:
        x0, y0, x1, y1 = region.bounds(VIEW_MARGIN_PX)
    else:
        room = LOOSE_MARGIN * symbol.size
        xs = [x for x, _ in symbol.corners]
        ys = [y for _, y in symbol.corners]
        x0, y0 = math.floor(min(xs) - room), math.floor(min(ys) - room)
        x1, y1 = math.ceil(max(xs) + room), math.ceil(max(ys) + room)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    cut = np.array(gray[y0:y1, x0:x1], dtype=np.uint8, copy=True)
    return View(cut, region.moved(-x0, -y0) if region is not None else None)


class SecondReader:
    """The independent decoders for a second read of linear symbols, as ``config`` reads.

    Each second read looks for the symbol's own family of formats only (EAN/UPC, ITF, or
    the one symbology): another code than the first read at its spot is a dispute, while a
    neighbour of another kind is no business of this read.
    """

    def __init__(self, config: PipelineConfig) -> None:
        self._try_invert = config.try_invert
        self._backend = config.backend
        # zbar first where the frame reader is zxing-cpp; a zbar station's first read was
        # zbar's own, so only zxing-cpp's looks are independent of it.
        self._order: tuple[tuple[str, float, bool], ...] = (
            tuple(look for look in LOOKS if look[0] == "zxing")
            if config.backend == "zbar"
            else LOOKS
        )
        self._decoders: dict[tuple[str, tuple[str, ...]], Decoder | None] = {}

    def looks(self, view: View, first: Symbol) -> Iterator[list[Symbol]]:
        """What each decoder independent of ``first``'s read reads in ``view``, one
        decoder at a time (the caller may stop early). Positions are in the view's pixels."""
        formats = family(first.symbology)
        upright_image = upright(view)
        if upright_image.size == 0:
            return
        for kind, scale, turned in self._order:
            if not turned and view.region is None and (kind, scale, True) in self._order:
                continue  # without a region the upright view is the view: read already
            if kind == "zbar" and first.decoder == "zbar" and scale == 1.0:
                continue  # zbar has one way to read pixels: at their size it repeats itself
            decoder = self._decoder(kind, formats)
            if decoder is not None:
                yield decoder.decode(_scaled(upright_image if turned else view.image, scale))

    def owed(self, first: Symbol) -> int:
        """The agreeing reads ``first`` needs beyond a frame reader's read: one where the
        station's own decoder did not read it at all (a whole picture's try by the other
        decoder, see :mod:`linetrace.edge.vision.picture_read`), none otherwise."""
        return int(first.decoder != self._backend)

    def _decoder(self, kind: str, formats: tuple[str, ...]) -> Decoder | None:
        key = (kind, formats)
        if key not in self._decoders:
            self._decoders[key] = self._build(kind, formats)
        return self._decoders[key]

    def _build(self, kind: str, formats: tuple[str, ...]) -> Decoder | None:
        """The decoder, or None where it cannot read ``formats`` (zbar not installed, or
        a format it does not know): the other one's read then stands alone."""
        try:
            if kind == "zxing":
                return ZxingDecoder(
                    formats,
                    try_rotate=True,
                    try_invert=self._try_invert,
                    try_downscale=False,
                    binarizer="global",
                )
            readable = tuple(name for name in formats if FORMATS.get(name) is not None)
            return ZbarDecoder(readable) if readable else None
        except DecoderError as exc:
            logger.warning("no %s second reads of %s: %s", kind, "/".join(formats), exc)
            return None


def family(symbology: str) -> tuple[str, ...]:
    """The formats one printed linear code may be reported as, by one decoder or another."""
    for members in _FAMILIES:
        if symbology in members:
            return members
    return (symbology,)


def upright(view: View) -> Image:
    """The view with the bars standing and only the region's rows across them: the edge
    of a neighbouring code above or below is not read for this one."""
    if view.region is None or view.image.size == 0:
        return view.image
    turned, _ = rectify(view.image, with_bars(view.region), margin=VIEW_MARGIN_PX)
    rows = turned.shape[0]
    if rows > 2 * VIEW_MARGIN_PX + MARGIN_PX:
        turned = turned[VIEW_MARGIN_PX : rows - VIEW_MARGIN_PX]
    return np.ascontiguousarray(turned)


def _scaled(image: Image, scale: float) -> Image:
    if scale == 1.0:
        return image
    resized = cv2.resize(image, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
    return np.asarray(resized, np.uint8)
