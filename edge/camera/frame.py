"""One captured frame, time-stamped at capture: what the camera stage hands on.

Kept apart from the sources and the capture process so that the decoders, the tracker and
the scanner agree on one shape without importing the camera's machinery.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

__all__ = ["Frame"]


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image, time-stamped once at capture.

    ``wall`` carries the station's UTC offset and becomes ``observed_at``; ``mono`` is a
    monotonic clock in seconds (for a video read faster than real time, its media time)
    and is what the tracker's windows are measured in.
    """

    image: npt.NDArray[np.uint8]
    index: int
    wall: datetime
    mono: float
