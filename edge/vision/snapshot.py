"""The picture a no-read carries: a JPEG of the region that never decoded, small enough to
travel inside its scan event.

The contract caps a snapshot at :data:`~linetrace.broker.contract.messages.MAX_SNAPSHOT_CHARS` of
base64, so the crop is encoded at falling quality, then at falling size, until it fits.
An operator needs to see why a label failed (a sticker, a tear, a smudge), which survives
moderate quality; a snapshot that does not fit at all is left out rather than sent broken.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.broker.contract.messages import MAX_SNAPSHOT_CHARS

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["MAX_SNAPSHOT_BYTES", "encode_snapshot"]

logger = logging.getLogger(__name__)

# base64 turns every 3 bytes into 4 characters.
MAX_SNAPSHOT_BYTES = MAX_SNAPSHOT_CHARS // 4 * 3
# Quality steps: 85 keeps fine print legible; below 40 bars blur into their neighbours and
# a smaller picture serves the operator better than a blockier one.
QUALITIES = (85, 70, 55, 40)
# Each further step shrinks the picture to this share of its width and height (about half
# the pixels), so a few steps reach the limit even from a 4K crop.
SHRINK = 0.7
# Below this many pixels on the shorter side nothing in the picture can be recognised.
MIN_SIDE_PX = 32


def encode_snapshot(image: Image, limit: int = MAX_SNAPSHOT_BYTES) -> bytes | None:
    """``image`` as a JPEG of at most ``limit`` bytes, or None when no size fits."""
    if image.size == 0:
        return None
    picture = image
    while min(picture.shape[:2]) >= MIN_SIDE_PX:
        for quality in QUALITIES:
            ok, encoded = cv2.imencode(".jpg", picture, [cv2.IMWRITE_JPEG_QUALITY, quality])
            if ok and encoded.size <= limit:
                return bytes(np.asarray(encoded, np.uint8).tobytes())
        picture = np.asarray(
            cv2.resize(picture, None, fx=SHRINK, fy=SHRINK, interpolation=cv2.INTER_AREA),
            np.uint8,
        )
    logger.warning("no-read snapshot of %s px does not fit in %d bytes", image.shape, limit)
    return None
