"""Motion-JPEG streams read picture by picture, so that a corrupt one is skipped, not fatal.

OpenCV's FFmpeg reader ends a stream at the first picture its decoder refuses: one garbled
part of an HTTP multipart stream, or a truncated JPEG from an IP camera, cost a reconnect
and every frame of its backoff. For a stream whose codec is Motion JPEG (each picture a
JPEG of its own) the reader is asked for the pictures undecoded instead
(``CAP_PROP_FORMAT`` -1) and :func:`decode_picture` decodes each: one that does not decode
is skipped and counted by the source, and the next is read.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import cv2
import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["MAX_CORRUPT_RUN", "decode_picture", "undecoded_jpeg"]

# The codec tag OpenCV reports for Motion JPEG (HTTP multipart streams, many IP cameras).
_MJPEG = "MJPG"
# A camera that sends nothing but garbage for this many pictures in a row (a few seconds
# at camera rates) is not glitching but broken: the stream is reopened, like a stalled one.
MAX_CORRUPT_RUN = 100


def undecoded_jpeg(capture: cv2.VideoCapture) -> bool:
    """Ask ``capture`` for its pictures undecoded when they are JPEGs; True if it agreed."""
    code = int(capture.get(cv2.CAP_PROP_FOURCC))
    fourcc = code.to_bytes(4, "little").decode("latin-1")
    return fourcc == _MJPEG and bool(capture.set(cv2.CAP_PROP_FORMAT, -1))


def decode_picture(packet: Image | None, *, grey: bool) -> Image | None:
    """One undecoded JPEG picture as an image (grey, or BGR); None when it does not decode."""
    if packet is None or packet.size == 0:
        return None
    flags = cv2.IMREAD_GRAYSCALE if grey else cv2.IMREAD_COLOR
    try:
        image = cv2.imdecode(np.ascontiguousarray(packet).reshape(-1), flags)
    except cv2.error:
        return None
    return None if image is None else np.asarray(image, dtype=np.uint8)
