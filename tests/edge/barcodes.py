"""Test images made with zxing-cpp's own encoder: real symbols, no fixtures on disk."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import numpy.typing as npt
import zxingcpp
from biip.checksums import gs1_standard_check_digit

from linetrace.edge.camera.frame import Frame
from linetrace.edge.vision.decode import Symbol

Image = npt.NDArray[np.uint8]

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# The sample from the GS1 Vietnam brief: its GTIN's check digit is wrong on purpose
# (biip: expected 0, got 8).
BAD_CHECK_DIGIT_HRI = "(01)08938500000018(17)271231(10)L2611(21)000123"


def with_check_digit(payload: str) -> str:
    """``payload`` and its GS1 mod-10 check digit: a valid GTIN, SSCC or GLN."""
    return payload + str(gs1_standard_check_digit(payload))


GTIN = with_check_digit("0893850000001")  # 08938500000010
GOOD_HRI = f"(01){GTIN}(17)271231(10)L2611(21)000123"


def code_image(
    content: str, fmt: zxingcpp.BarcodeFormat, *, gs1: bool = False, scale: int = 4
) -> Image:
    """A grayscale image of one symbol with its quiet zone."""
    if gs1:
        barcode = zxingcpp.create_barcode(content, fmt, gs1=True)
    else:
        barcode = zxingcpp.create_barcode(content, fmt)
    return np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=scale), dtype=np.uint8)


def datamatrix(hri: str, *, scale: int = 4) -> Image:
    return code_image(hri, zxingcpp.BarcodeFormat.DataMatrix, gs1=True, scale=scale)


def canvas(
    placements: list[tuple[Image, int, int]], *, width: int = 480, height: int = 240
) -> Image:
    """A white BGR frame with each ``(symbol, x, y)`` pasted at its top-left corner."""
    frame = np.full((height, width, 3), 255, dtype=np.uint8)
    for symbol, x, y in placements:
        h, w = symbol.shape[:2]
        frame[y : y + h, x : x + w] = symbol[:, :, None] if symbol.ndim == 2 else symbol
    return frame


def frame(image: Image, index: int, fps: float = 30.0) -> Frame:
    """Frame ``index`` of a 30 fps recording that started at :data:`START`."""
    media = index / fps
    return Frame(image, index, START + timedelta(seconds=media), media)


def symbol(
    text: str,
    x: float = 100.0,
    y: float = 100.0,
    *,
    size: int = 40,
    symbology: str = "DataMatrix",
    symbology_id: str = "]d2",
) -> Symbol:
    """A decoded symbol as a decoder would report it: a ``size`` square at ``(x, y)``."""
    left, top = round(x - size / 2), round(y - size / 2)
    right, bottom = left + size, top + size
    return Symbol(
        symbology=symbology,
        symbology_id=symbology_id,
        text=text,
        gs1=symbology_id in ("]d2", "]C1", "]Q3", "]e0"),
        corners=((left, top), (right, top), (right, bottom), (left, bottom)),
    )
