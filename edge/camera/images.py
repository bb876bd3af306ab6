"""The plain image steps the capture process takes, and the readers after it repeat.

Every decoder and the locator work on luminance, and the still-frame test compares
coarse thumbnails; both steps live with the camera, which takes them first, so the later
stages import them from here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["grayscale", "shrink"]


def grayscale(image: Image) -> Image:
    """``image`` as one channel: every decoder and the locator work on luminance."""
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return np.ascontiguousarray(image[:, :, 0])
    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)


def shrink(image: Image, halvings: int) -> Image:
    """``image`` halved ``halvings`` times, each pixel the mean of the ones it covers.

    Halving by exactly two takes OpenCV's vectorised path, several times faster than one
    resize by a larger factor; an odd last row or column is left out.
    """
    for _ in range(halvings):
        height, width = image.shape[:2]
        if height < 2 or width < 2:
            break
        even = image[: height - height % 2, : width - width % 2]
        size = (width // 2, height // 2)
        image = np.asarray(cv2.resize(even, size, interpolation=cv2.INTER_AREA), np.uint8)
    return image
