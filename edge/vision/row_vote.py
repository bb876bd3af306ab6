"""Per-row reading of a linear symbol: many short looks across its bars, counted as votes.

A linear code repeats its whole message in every scan line across the bars. A worn label
may spoil some lines (a scratch, a stain, a fold) and leave others whole; a misread whose
check digit fits by chance comes from the spoilt pixels of one line. Reading the bands of
the symbol's bars apart, each at twice its size (bicubic) by zxing-cpp and zbar, gives one
vote per band: a band that reads
the code agrees; a band that reads another code of the family disputes it. Several bands
agreeing, and none disputing, confirm a read from a single view, which is what a label
read in one frame of a moving line, a still item or a single photograph lacks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from itertools import pairwise
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.decode import Decoder, Symbol, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import FORMATS, LINEAR_FORMATS, DecoderError
from linetrace.edge.vision.second_read import View, family, upright

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["BANDS", "RowVote", "RowVoter"]

logger = logging.getLogger(__name__)

# Bands cut across the bars of the upright symbol: enough that a scratch or stain spoils
# only a few, few enough that each keeps several pixel rows for the decoders to agree on.
# On the worn labels of bench/edge_wear.py, reading each band as it is (not averaged down
# its bars, which blurs a label a little askew) at twice its size read the most bands.
BANDS = 8
BAND_SCALE = 2.0
# The rows that hold bars: those whose mean step across the row is at least this share of
# the busiest row's (the printed digits, the label's text and the belt fall away).
BAR_ROWS = 0.5


@dataclass(frozen=True, slots=True)
class RowVote:
    """The bands of one view that read the code (``agree``) and another code (``dispute``)."""

    agree: int
    dispute: int

    def confirms(self, needed: int) -> bool:
        """Whether at least ``needed`` bands agree and none disputes."""
        return self.dispute == 0 and self.agree >= needed


class RowVoter:
    """Reads a view's bands with zxing-cpp (no rotation, no downscale) and zbar."""

    def __init__(self, try_invert: bool = False) -> None:
        self._try_invert = try_invert
        self._decoders: dict[tuple[str, ...], list[Decoder]] = {}

    def vote(
        self,
        view: View,
        symbol: Symbol,
        same: Callable[[Symbol, Symbol], bool],
        formats: tuple[str, ...] | None = None,
    ) -> RowVote:
        """Count the bands of ``view`` whose reads ``same`` finds equal to ``symbol``, and
        those that read another linear code instead: one of ``symbol``'s family, or only
        of ``formats`` where given."""
        image = _upright_bars(view, symbol)
        if image.size == 0 or image.shape[1] < 2:
            return RowVote(0, 0)
        image = _bar_rows(image)
        if image.shape[0] < BANDS:
            return RowVote(0, 0)
        decoders = self._family_decoders(formats or family(symbol.symbology))
        agree = dispute = 0
        for line in _bands(image):
            reads = [other for d in decoders for other in d.decode(line)]
            linear = [other for other in reads if other.symbology in LINEAR_FORMATS]
            if any(not same(symbol, other) for other in linear):
                dispute += 1
            elif linear:
                agree += 1
        return RowVote(agree, dispute)

    def _family_decoders(self, formats: tuple[str, ...]) -> list[Decoder]:
        if formats not in self._decoders:
            self._decoders[formats] = self._build(formats)
        return self._decoders[formats]

    def _build(self, formats: tuple[str, ...]) -> list[Decoder]:
        built: list[Decoder] = []
        try:
            built.append(
                ZxingDecoder(
                    formats,
                    try_rotate=False,
                    try_invert=self._try_invert,
                    try_downscale=False,
                    binarizer="global",
                )
            )
        except DecoderError as exc:
            logger.warning("no zxing-cpp row reads of %s: %s", "/".join(formats), exc)
        readable = tuple(name for name in formats if FORMATS.get(name) is not None)
        try:
            if readable:
                built.append(ZbarDecoder(readable))
        except DecoderError as exc:
            logger.warning("no zbar row reads of %s: %s", "/".join(formats), exc)
        return built


def _upright_bars(view: View, symbol: Symbol) -> Image:
    """The view with its bars standing: the located region turned upright, or, for a read
    without a region, the view turned by the quarter turns of the read's orientation."""
    if view.region is not None:
        return upright(view)
    across = round((symbol.orientation or 0) / 90) % 2  # bars lying: a quarter turn
    image = cv2.rotate(view.image, cv2.ROTATE_90_CLOCKWISE) if across else view.image
    return np.ascontiguousarray(image, dtype=np.uint8)


def _bar_rows(image: Image) -> Image:
    """The rows of upright ``image`` from the first to the last that cross bars."""
    steps = np.abs(np.diff(image.astype(np.float32), axis=1)).mean(axis=1)
    busy = np.flatnonzero(steps >= BAR_ROWS * float(steps.max()))
    if busy.size == 0:
        return image[:0]
    return image[int(busy[0]) : int(busy[-1]) + 1]


def _bands(image: Image) -> list[Image]:
    """The bands of ``image``, top to bottom, each at ``BAND_SCALE`` times its size."""
    edges = [int(edge) for edge in np.linspace(0, image.shape[0], BANDS + 1).round()]
    strips: list[Image] = []
    for top, bottom in pairwise(edges):
        band = cv2.resize(
            image[top:bottom], None, fx=BAND_SCALE, fy=BAND_SCALE, interpolation=cv2.INTER_CUBIC
        )
        strips.append(np.ascontiguousarray(band, dtype=np.uint8))
    return strips
