"""Combining several frames' views of a label that no single frame could read.

A label rides through the view for many frames, and each frame sees it under fresh
sensor noise and fresh JPEG blocking (the label moves against the block grid), while the
print itself is the same. Averaging the views of a label, each shifted onto the latest
one, keeps the print and divides the noise: four views halve it. For a worn 2D symbol
whose modules are barely two pixels wide that is often the difference between a finder
pattern the decoder finds and one it does not.

Only matrix symbols are combined: a linear code's own rows are averaged already (see
:mod:`linetrace.edge.vision.restore`), and shifting whole views by a fraction of a pixel blurs
the narrowest bars more than it quiets them.

The views are aligned by phase correlation, which measures the shift between two views to
a fraction of a pixel from the print itself; a view that would need a shift of more than
:data:`MAX_SHIFT_PX` shows something else (the tracker followed another patch) and is
left out. Each is shifted with bicubic interpolation: the belt moves labels by fractions
of a pixel, and a linear one would blur modules of two pixels by half a module.

A combined view is quieter than any one frame but still blurred, so it gets tries of its
own after the reader's usual ones (:data:`STACK_BLURS`): the blur divided out, magnified,
and cut at mid-grey, which the averaged, noise-free grey allows.
"""

from __future__ import annotations

import math
from collections import deque
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.locate import CELL_PX, MARGIN_PX, Region
from linetrace.edge.vision.restore import Blur

if TYPE_CHECKING:
    import numpy.typing as npt

    Gray = npt.NDArray[np.uint8]
    Floats = npt.NDArray[np.float32]

__all__ = [
    "FIRST_STACK",
    "MAX_SHIFT_PX",
    "STACK_BLURS",
    "STACK_EVERY",
    "STACK_VIEWS",
    "ViewStack",
]

# Views kept: six divide the noise by about 2.4, and a label is whole in view for 8-15
# frames on a line at 10 items/s, so the oldest views are still the same label's.
STACK_VIEWS = 6
# A label is combined once it has this many views (as many frames have failed to read it
# alone), and again every STACK_EVERY new views: each try costs a few decoder calls, and
# the views a try sees should differ from the last try's.
FIRST_STACK = 3
STACK_EVERY = 2
# A view is cut around its region's centre, which wobbles by up to a cell between frames:
# a shift larger than this is no wobble.
MAX_SHIFT_PX = float(CELL_PX)
# The blurs divided out of a combined view before it is magnified and cut at mid-grey,
# measured on the undecoded Data Matrix symbols of 20 seeds of the synthetic "high"
# footage (bench/edge_wear.py): together they read 9 of the 11 that every other try
# missed; the reader's own matrix blur with its local threshold read none of them. A
# long smear with a mild lens blur, and a short smear with a strong one.
STACK_BLURS = (Blur(3.0, 0.9, 0.01), Blur(1.0, 1.2, 0.003))


class ViewStack:
    """The last :data:`STACK_VIEWS` views of one located region, all cut to one size."""

    def __init__(self, region: Region) -> None:
        x0, y0, x1, y1 = region.bounds(MARGIN_PX + CELL_PX)
        side = max(x1 - x0, y1 - y0)
        self.size = (side, side)
        self._views: deque[Floats] = deque(maxlen=STACK_VIEWS)
        self.added = 0  # views added so far, including those the deque let go
        self._combined_at = 0  # ``added`` when last combined

    def __len__(self) -> int:
        return len(self._views)

    def due(self) -> bool:
        """Whether enough new views have come since the last :meth:`combined`."""
        return self.added >= FIRST_STACK and self.added - self._combined_at >= STACK_EVERY

    def add(self, gray: Gray, region: Region) -> None:
        """Keep the view of ``gray`` centred on ``region``."""
        view = cv2.getRectSubPix(gray, self.size, region.centre)
        self._views.append(np.asarray(view, np.float32))
        self.added += 1

    def combined(self) -> Gray:
        """The views averaged, each shifted onto the latest; the same size as a view,
        centred where the latest view's region was."""
        self._combined_at = self.added
        latest = self._views[-1]
        window = cv2.createHanningWindow(self.size, cv2.CV_32F)
        total = latest.copy()
        count = 1
        for view in list(self._views)[:-1]:
            (dx, dy), _ = cv2.phaseCorrelate(latest, view, window)
            if math.hypot(dx, dy) > MAX_SHIFT_PX:
                continue
            back = np.array([[1.0, 0.0, -dx], [0.0, 1.0, -dy]], np.float32)
            total += cv2.warpAffine(
                view, back, self.size, flags=cv2.INTER_CUBIC, borderMode=cv2.BORDER_REPLICATE
            )
            count += 1
        return np.asarray(np.clip(total / count + 0.5, 0, 255), np.uint8)
