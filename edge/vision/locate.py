"""Finding symbols before decoding them: where the codes are, and which way their bars run.

A scan-line decoder reads a linear code only when one of its lines crosses every bar,
which a label turned by more than a few degrees defeats, and it spends most of a frame's
time on belt and cardboard that hold no code. So the frame is first searched for code-like
texture, cheaply, on a half-size copy: printed codes are the densest patches of strong
edges in view, while sensor noise, fine print and the thin lines of box and label edges
are not. Each patch becomes a :class:`Region`, a rotated rectangle in frame pixels; the
structure tensor of its gradients says whether its edges run one way (bars: a linear code,
with the angle to turn it upright) or every way (a matrix code, or text).

:func:`rectify` then cuts a region out of the frame, turned so that a linear code's bars
stand vertical, where every scan line crosses them all; :func:`crop` cuts a matrix region
without turning it (matrix decoders find any rotation themselves).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.camera.images import shrink
from linetrace.edge.vision.settings import DEFAULT_DENSITY

if TYPE_CHECKING:
    import numpy.typing as npt

    Gray = npt.NDArray[np.uint8]
    Affine = npt.NDArray[np.float64]

__all__ = [
    "CELL_PX",
    "LINEAR_COHERENCE",
    "Locator",
    "Region",
    "crop",
    "rectify",
]

# Edge density is measured on a half-size copy: the 1.5-4 px modules of a label seen by a
# packing-line camera still show as edges there, at a quarter of the cost.
_HALF = 0.5
# ... and pooled over cells of 8x8 frame pixels: smaller than the quiet zone around a
# symbol (10 modules of 1D, 1-2 of 2D, at >= 1.5 px), so patches of two symbols stay apart.
CELL_PX = 8
_POOL = int(CELL_PX * _HALF)
_POOL_HALVINGS = 2  # 4 = 2 x 2
# Code-like patches smaller than this many cells (24x24 px of frame) are specks: the
# smallest GS1 DataMatrix (10x10 modules) at 2 px per module is already that large.
MIN_CELLS = 9
# Edges this consistent in direction (structure-tensor coherence, 0..1) are bars; matrix
# codes and text sit well below 0.4, a linear code with its header text above 0.6.
LINEAR_COHERENCE = 0.5
# Room around a cut-out region: the patch ends at the last cell dense enough, up to a
# cell and a half inside the symbol (more where a turned outline meets the cell grid).
# Not more: a wider cut takes in the label's edge, which a linear decoder can take for a
# guard pattern (seen on the synthetic footage: an EAN-13 misread whose check digit fit).
MARGIN_PX = 16
_OPEN = np.ones((3, 3), np.uint8)
# Closing bridges gaps of up to three cells (24 px): the wide spaces of a linear code and
# the margin between a symbol and its caption, while labels on two boxes, 50 px and more
# apart, stay apart.
_CLOSE = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (5, 5))


@dataclass(frozen=True, slots=True)
class Region:
    """A code-like patch of a frame, as a rotated rectangle in frame pixels.

    ``bars`` is the angle (degrees) of the patch's dominant gradient when its edges run one
    way, i.e. when it looks like a linear code; None when they run every way. ``edge`` is
    True when the patch touches the border of the searched area: the symbol may be cut.
    """

    centre: tuple[float, float]
    size: tuple[float, float]  # width, height of the rectangle
    angle: float  # the rectangle's rotation in degrees, OpenCV's minAreaRect convention
    bars: float | None
    coherence: float
    density: float  # mean edge density of its cells
    edge: bool

    @property
    def corners(self) -> tuple[tuple[float, float], ...]:
        """The rectangle's four corners in frame pixels."""
        points = cv2.boxPoints((self.centre, self.size, self.angle))
        return tuple((float(x), float(y)) for x, y in points)

    @property
    def extent(self) -> float:
        """The rectangle's longer side, in pixels."""
        return max(self.size)

    @property
    def area(self) -> float:
        return self.size[0] * self.size[1]

    def bounds(self, margin: float = 0.0) -> tuple[int, int, int, int]:
        """Axis-aligned ``x0, y0, x1, y1`` around the rectangle, ``margin`` pixels wider."""
        xs, ys = zip(*self.corners, strict=True)
        return (
            math.floor(min(xs) - margin),
            math.floor(min(ys) - margin),
            math.ceil(max(xs) + margin),
            math.ceil(max(ys) + margin),
        )

    def holds(self, point: tuple[float, float], tolerance: float = 0.0) -> bool:
        """Whether ``point`` lies inside the rectangle, or within ``tolerance`` px of it."""
        (cx, cy), (width, height) = self.centre, self.size
        angle = math.radians(self.angle)
        dx, dy = point[0] - cx, point[1] - cy
        along = dx * math.cos(angle) + dy * math.sin(angle)
        across = -dx * math.sin(angle) + dy * math.cos(angle)
        return abs(along) <= width / 2 + tolerance and abs(across) <= height / 2 + tolerance

    def moved(self, dx: float, dy: float) -> Region:
        """The same region shifted by ``(dx, dy)``: into frame coordinates from an ROI."""
        (x, y) = self.centre
        return Region(
            (x + dx, y + dy),
            self.size,
            self.angle,
            self.bars,
            self.coherence,
            self.density,
            self.edge,
        )

    def scaled(self, factor: float) -> Region:
        """The same region in an image ``factor`` times as large."""
        (x, y), (w, h) = self.centre, self.size
        return Region(
            (x * factor, y * factor),
            (w * factor, h * factor),
            self.angle,
            self.bars,
            self.coherence,
            self.density,
            self.edge,
        )


class Locator:
    """Finds code-like regions in grayscale images."""

    def __init__(self, density: int = DEFAULT_DENSITY, min_cells: int = MIN_CELLS) -> None:
        if not 0 < density < 255:
            raise ValueError(f"density must be in (0, 255), got {density}")
        if min_cells < 1:
            raise ValueError(f"min_cells must be at least 1, got {min_cells}")
        self.density = density
        self.min_cells = min_cells

    def locate(self, gray: Gray) -> list[Region]:
        """The code-like regions of ``gray``, largest first."""
        if gray.ndim != 2:
            raise ValueError(f"locate needs a grayscale image, got shape {gray.shape}")
        height, width = gray.shape
        if height < 2 * CELL_PX or width < 2 * CELL_PX:
            return []
        half = shrink(gray, 1)
        gx = np.asarray(cv2.Sobel(half, cv2.CV_16S, 1, 0, ksize=3), np.int16)
        gy = np.asarray(cv2.Sobel(half, cv2.CV_16S, 0, 1, ksize=3), np.int16)
        magnitude = np.asarray(cv2.add(cv2.convertScaleAbs(gx), cv2.convertScaleAbs(gy)), np.uint8)
        cells = shrink(magnitude, _POOL_HALVINGS)
        _, mask = cv2.threshold(cells, self.density, 255, cv2.THRESH_BINARY)
        # Opening drops one-cell lines (box and label edges, belt seams); closing joins the
        # cells of one symbol that a wide bar or a light module left below the threshold.
        mask = cv2.morphologyEx(mask, cv2.MORPH_OPEN, _OPEN)
        mask = cv2.morphologyEx(mask, cv2.MORPH_CLOSE, _CLOSE)
        count, found, found_stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        labels = np.asarray(found, np.int32)
        stats = np.asarray(found_stats, np.int32)
        regions = [
            self._region(index, labels, stats[index], cells, gx, gy)
            for index in range(1, count)
            if stats[index][cv2.CC_STAT_AREA] >= self.min_cells
        ]
        return sorted(regions, key=lambda region: region.area, reverse=True)

    def _region(
        self,
        index: int,
        labels: npt.NDArray[np.int32],
        stat: npt.NDArray[np.int32],
        cells: Gray,
        gx: npt.NDArray[np.int16],
        gy: npt.NDArray[np.int16],
    ) -> Region:
        x, y, w, h = (int(v) for v in stat[:4])
        inside = labels[y : y + h, x : x + w] == index
        rows, cols = np.nonzero(inside)
        points = np.column_stack([cols + x, rows + y]).astype(np.float32) * CELL_PX
        points += CELL_PX / 2
        (cx, cy), (rw, rh), angle = cv2.minAreaRect(points)
        density = float(cells[y : y + h, x : x + w][inside].mean())
        bars, coherence = _orientation(gx, gy, (x, y, w, h), inside)
        grid_h, grid_w = labels.shape
        edge = x == 0 or y == 0 or x + w >= grid_w or y + h >= grid_h
        return Region(
            centre=(float(cx), float(cy)),
            size=(float(rw) + CELL_PX, float(rh) + CELL_PX),
            angle=float(angle),
            bars=bars,
            coherence=coherence,
            density=density,
            edge=edge,
        )


def _orientation(
    gx: npt.NDArray[np.int16],
    gy: npt.NDArray[np.int16],
    box: tuple[int, int, int, int],
    inside: npt.NDArray[np.bool_],
) -> tuple[float | None, float]:
    """The dominant gradient angle (degrees) when coherent enough for bars, and coherence."""
    x, y, w, h = box
    rows = slice(y * _POOL, (y + h) * _POOL)
    cols = slice(x * _POOL, (x + w) * _POOL)
    weight = np.repeat(np.repeat(inside, _POOL, axis=0), _POOL, axis=1).astype(np.float32)
    dx = gx[rows, cols].astype(np.float32) * weight
    dy = gy[rows, cols].astype(np.float32) * weight
    jxx, jyy, jxy = float(np.vdot(dx, dx)), float(np.vdot(dy, dy)), float(np.vdot(dx, dy))
    total = jxx + jyy
    if total <= 0:
        return None, 0.0
    coherence = math.hypot(jxx - jyy, 2 * jxy) / total
    angle = 0.5 * math.degrees(math.atan2(2 * jxy, jxx - jyy))
    return (angle if coherence >= LINEAR_COHERENCE else None), coherence


def rectify(
    gray: Gray,
    region: Region,
    margin: float = MARGIN_PX,
    stretch: float = 1.0,
) -> tuple[Gray, Affine]:
    """``region`` cut out and turned so its bars stand vertical, and the affine map from
    the cut-out's pixels back to ``gray``'s.

    ``stretch`` > 1 also widens it across the bars (bicubic), which gives bars under about
    1.5 px the width a scan-line decoder needs. A region without bars is cut out unturned
    (see :func:`crop`).
    """
    if region.bars is None:
        return crop(gray, region, margin)
    turn = np.asarray(cv2.getRotationMatrix2D(region.centre, region.bars, 1.0), np.float64)
    turn[0, :] *= stretch
    corners = np.array(region.corners, np.float64)
    turned = corners @ turn[:, :2].T + turn[:, 2]
    room = np.array([margin * stretch, margin])
    low = turned.min(axis=0) - room
    high = turned.max(axis=0) + room
    turn[:, 2] -= low
    width, height = (math.ceil(float(v)) for v in high - low)
    cut = cv2.warpAffine(
        gray,
        turn,
        (max(width, 1), max(height, 1)),
        flags=cv2.INTER_LINEAR if stretch == 1.0 else cv2.INTER_CUBIC,
        borderMode=cv2.BORDER_REPLICATE,
    )
    back = cv2.invertAffineTransform(turn)
    return np.asarray(cut, np.uint8), np.asarray(back, np.float64)


def crop(gray: Gray, region: Region, margin: float = MARGIN_PX) -> tuple[Gray, Affine]:
    """The axis-aligned cut-out around ``region`` and the map back to ``gray``'s pixels."""
    height, width = gray.shape[:2]
    x0, y0, x1, y1 = region.bounds(margin)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(width, x1), min(height, y1)
    cut = np.ascontiguousarray(gray[y0:y1, x0:x1])
    back = np.array([[1.0, 0.0, x0], [0.0, 1.0, y0]])
    return cut, back
