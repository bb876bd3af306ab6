"""Whether two located regions lie on one label: label paper joins them, belt and box do not.

A label that does not decode shows as several regions: its symbol, or the two ends of a
linear code either side of a sticker, its caption, the sticker's print. One label must
make one no-read, and two labels must make two, however close their boxes ride. Distance
cannot tell these apart: the ends of a covered GS1-128 lie 300 px apart on one label,
while the labels on two boxes can be 50 px apart. What lies *between* the regions can:
on one label it is paper (and a sticker, and thin print), between two labels it is the
edges of both boxes and the belt between them, far darker than paper over a stretch
longer than any printed element.

So :func:`joined` follows the straight line between the two regions' centres, skips the
parts inside either region (a symbol's own dark modules), and looks for a dark run: a
stretch darker than :data:`DARK_SHARE` of the paper's brightness and at least
:data:`GAP_RUN_PX` long. A label is a convex card, so the line between two points on it
stays on it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.locate import Region

if TYPE_CHECKING:
    import numpy.typing as npt

    Gray = npt.NDArray[np.uint8]

__all__ = ["DARK_SHARE", "GAP_RUN_PX", "joined"]

# Darker than this share of the paper is not paper: the belt (~30 % of white paper's
# brightness) and a box's edge, and kraft board (~60 %), while a grey sticker (~85 %)
# and paper in the dim part of uneven light (over 80 % of the bright part within a
# label's reach) stay above it.
DARK_SHARE = 0.7
# A dark run this long (pixels) is a gap between two labels: the belt between two boxes
# is 24 px and more, with a box's margin around each label on top, while no printed
# element outside a symbol is this wide (a bar is at most 4 modules, ~11 px at 2.7 px;
# text strokes are a few px).
GAP_RUN_PX = 16
# The paper's brightness is this percentile of the line's samples outside the regions:
# the brightest of them, but not a glint.
PAPER_PERCENTILE = 95.0
# Each sample is the brightest across a band this wide (pixels) around the line: wider
# than any bar (4 modules, ~11 px at 2.7 px) or stroke, narrower than the belt between
# two boxes (24 px and more).
BAND_PX = 15
# Samples are smoothed over this many pixels along the line, so that sensor noise and
# JPEG blocks neither break a dark run nor make one.
SMOOTH_PX = 5


def joined(gray: Gray, first: Region, second: Region) -> bool:
    """Whether ``first`` and ``second`` lie on one label in ``gray`` (see the module);
    False where the line between them leaves the frame, which shows nothing there."""
    values = _between(gray, first, second)
    if values is None:
        return False
    if values.size < GAP_RUN_PX:
        return True  # the regions touch or overlap: nothing between them to cross
    paper = float(np.percentile(values, PAPER_PERCENTILE))
    dark = values < DARK_SHARE * paper
    return _longest_run(dark) < GAP_RUN_PX


def _between(gray: Gray, first: Region, second: Region) -> npt.NDArray[np.float32] | None:
    """The brightest grey level across a band :data:`BAND_PX` wide, at each pixel along
    the line between the centres, smoothed, with the parts inside either region left
    out (None when some of it lies outside the frame). Across the band, a printed bar
    or stroke leaves paper beside it; the belt between two boxes is wider than the band
    and stays dark."""
    (x0, y0), (x1, y1) = first.centre, second.centre
    length = math.hypot(x1 - x0, y1 - y0)
    count = max(2, math.ceil(length) + 1)
    along = np.linspace(0.0, 1.0, count, dtype=np.float32)
    xs = x0 + along * (x1 - x0)
    ys = y0 + along * (y1 - y0)
    nx, ny = (-(y1 - y0) / length, (x1 - x0) / length) if length > 0 else (0.0, 0.0)
    offsets = np.arange(BAND_PX, dtype=np.float32)[:, None] - (BAND_PX - 1) / 2
    grid_x = np.asarray(xs[None, :] + offsets * nx, np.float32)
    grid_y = np.asarray(ys[None, :] + offsets * ny, np.float32)
    band = cv2.remap(
        gray, grid_x, grid_y, interpolation=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
    )
    line = np.asarray(band, np.float32).max(axis=0)
    smooth = np.asarray(cv2.blur(line[None, :], (SMOOTH_PX, 1)), np.float32).ravel()
    outside = ~_within(first, xs, ys) & ~_within(second, xs, ys)
    height, width = gray.shape
    in_frame = (xs >= 0) & (xs <= width - 1) & (ys >= 0) & (ys <= height - 1)
    if not in_frame[outside].all():
        return None
    return np.asarray(smooth[outside], np.float32)


def _within(
    region: Region, xs: npt.NDArray[np.float32], ys: npt.NDArray[np.float32]
) -> npt.NDArray[np.bool_]:
    (cx, cy), (width, height) = region.centre, region.size
    angle = math.radians(region.angle)
    dx, dy = xs - cx, ys - cy
    along = dx * math.cos(angle) + dy * math.sin(angle)
    across = -dx * math.sin(angle) + dy * math.cos(angle)
    return np.asarray((np.abs(along) <= width / 2) & (np.abs(across) <= height / 2))


def _longest_run(flags: npt.NDArray[np.bool_]) -> int:
    """The length of the longest run of True in ``flags``."""
    if not flags.any():
        return 0
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return int((edges[1::2] - edges[::2]).max())
