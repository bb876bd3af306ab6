"""A located region cut out of a frame for the decoder, and the way back to frame pixels.

A region is cut out turned upright (a linear code's bars standing), or plain (a matrix
code), and on a second try magnified and sharpened; every cut-out comes with the affine
map from its pixels back to the frame's, through which the decoded symbols' corners and
orientation are carried.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.decode import Point, Symbol
from linetrace.edge.vision.locate import Region, crop, rectify

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]
    Affine = npt.NDArray[np.float64]

__all__ = [
    "ENHANCE",
    "crop_enhanced",
    "magnified",
    "mapped",
    "region_to_frame",
    "sharpened",
    "upright",
    "upright_enhanced",
    "with_bars",
]

# Modules under ~1.5 px, blurred by motion and focus, defeat the decoders at their own
# size: a region that did not decode is tried again at this magnification (bicubic) and
# sharpened, which on the hardest synthetic footage turns most failures into reads. Only
# whole regions that failed pay for it, so readable labels rarely do.
ENHANCE = 2.0
# Unsharp mask: blur sigma per unit of magnification (0.7 px: about one module at 2x of
# a 1.5 px module), and how much of the difference is added back. Measured on the
# synthetic "high" footage: weaker leaves half the failures, stronger rings.
SHARPEN_SIGMA_PER_SCALE = 0.7
SHARPEN_AMOUNT = 1.5
# Upright bars take twice as much: smoothed along the bars first, they have little noise
# left to ring, and on the synthetic "high" footage 1.5 left 7 of 10 missed linear items
# unread in every frame while 3.0 read them all in several frames, with no misread (4.0
# read more frames still, but leaves less room before ringing makes bars of noise).
SHARPEN_AMOUNT_BARS = 3.0
# Across the bars only: along them, the blur kernel stays a point.
SHARPEN_FLAT_SIGMA = 0.01
# Pixels averaged along upright bars before sharpening: well under any bar's height (60 px
# and more on a label), enough to quiet sensor noise and JPEG blocks by a factor of three.
ALONG_BARS_PX = 9


def with_bars(region: Region) -> Region:
    """``region`` as a linear code: with bars across its outline's long side if the
    locator saw none."""
    if region.bars is not None:
        return region
    return Region(
        region.centre,
        region.size,
        region.angle,
        outline_bars(region),
        region.coherence,
        region.density,
        region.edge,
    )


def upright(work: Image, region: Region, stretch: float = 1.0) -> tuple[Image, Affine]:
    """The region turned so its bars stand; a region without bars by its outline's angle."""
    return rectify(work, with_bars(region), stretch=stretch)


def upright_enhanced(work: Image, region: Region) -> tuple[Image, Affine]:
    """Upright, twice as wide, smoothed along the bars (noise and blocking average out
    there, the bars' edges do not move) and sharpened across them: for thin, blurred,
    noisy bars."""
    image, back = upright(work, region, stretch=ENHANCE)
    smoothed = np.asarray(cv2.blur(image, (1, ALONG_BARS_PX)), np.uint8)
    return sharpened(smoothed, ENHANCE, along_x_only=True), back


def magnified(image: Image, back: Affine) -> tuple[Image, Affine]:
    """``image`` at :data:`ENHANCE` times the size (bicubic), and its map to the frame."""
    bigger = cv2.resize(image, None, fx=ENHANCE, fy=ENHANCE, interpolation=cv2.INTER_CUBIC)
    return np.asarray(bigger, np.uint8), back @ np.diag([1.0 / ENHANCE, 1.0 / ENHANCE, 1.0])


def crop_enhanced(work: Image, region: Region) -> tuple[Image, Affine]:
    """The cut-out at twice the size and sharpened: for small or blurred modules."""
    image, back = crop(work, region)
    if image.size == 0:
        return image, back
    bigger, back = magnified(image, back)
    return sharpened(bigger, ENHANCE), back


def sharpened(image: Image, scale: float, *, along_x_only: bool = False) -> Image:
    """Unsharp masking: restores the edge contrast that blur and magnification took."""
    sigma = SHARPEN_SIGMA_PER_SCALE * scale
    blurred = cv2.GaussianBlur(
        image, (0, 0), sigmaX=sigma, sigmaY=SHARPEN_FLAT_SIGMA if along_x_only else sigma
    )
    amount = SHARPEN_AMOUNT_BARS if along_x_only else SHARPEN_AMOUNT
    return np.asarray(cv2.addWeighted(image, 1.0 + amount, blurred, -amount, 0.0), np.uint8)


def outline_bars(region: Region) -> float:
    """The gradient angle a linear code with this outline would have: across its long side."""
    width, height = region.size
    return region.angle if width >= height else region.angle + 90.0


def _apply(matrix: Affine, point: tuple[float, float]) -> tuple[float, float]:
    x, y = point
    return (
        float(matrix[0, 0] * x + matrix[0, 1] * y + matrix[0, 2]),
        float(matrix[1, 0] * x + matrix[1, 1] * y + matrix[1, 2]),
    )


def mapped(symbol: Symbol, matrix: Affine) -> Symbol:
    """``symbol`` with its corners and orientation carried through ``matrix`` (cut-out ->
    frame)."""
    corners: list[Point] = []
    for point in symbol.corners:
        x, y = _apply(matrix, (float(point[0]), float(point[1])))
        corners.append((round(x), round(y)))
    return Symbol(
        symbology=symbol.symbology,
        symbology_id=symbol.symbology_id,
        text=symbol.text,
        gs1=symbol.gs1,
        corners=(corners[0], corners[1], corners[2], corners[3]),
        orientation=turned(symbol.orientation, matrix),
        ec_used=symbol.ec_used,
        decoder=symbol.decoder,
    )


def turned(orientation: int | None, matrix: Affine) -> int | None:
    """``orientation`` (degrees clockwise) plus the turn ``matrix`` applies, in (-180, 180]."""
    if orientation is None:
        return None
    turn = math.degrees(math.atan2(float(matrix[1, 0]), float(matrix[0, 0])))
    degrees = round(orientation + turn) % 360
    return degrees - 360 if degrees > 180 else degrees


def region_to_frame(region: Region, to_frame: Affine) -> Region:
    scale = float(to_frame[0, 0])
    moved = region.scaled(scale) if scale != 1.0 else region
    dx, dy = float(to_frame[0, 2]), float(to_frame[1, 2])
    return moved.moved(dx, dy) if dx or dy else moved
