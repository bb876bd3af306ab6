"""Label images: one white card per item with its symbol and a few printed lines.

The symbol comes from zxing-cpp's own encoder, so every label is a correct GS1 symbol by
construction (GS1 DataMatrix ``]d2``, GS1-128 ``]C1``, QR with a Digital Link URI, EAN-13);
the printed lines only make the card look like a label and give a decoder text to ignore.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp

from linetrace.synth.codes import LabelData
from linetrace.synth.kinds import Symbology

__all__ = ["Label", "render_label"]

# Printed, not ideal: ink is never pure black nor paper pure white, which leaves room for
# noise to push both ways instead of clipping.
INK = 30
PAPER = 238
_FONT = cv2.FONT_HERSHEY_SIMPLEX
# Hershey "simplex" at scale 1.0 is about 22 px tall; 0.14 per pixel of module keeps the
# printed lines near the height of the EAN digits zxing-cpp draws under the bars.
_FONT_SCALE_PER_MODULE = 0.14

_FORMATS: dict[Symbology, tuple[zxingcpp.BarcodeFormat, bool]] = {
    Symbology.GS1_DATAMATRIX: (zxingcpp.BarcodeFormat.DataMatrix, True),
    Symbology.GS1_QR_DIGITAL_LINK: (zxingcpp.BarcodeFormat.QRCode, False),
    Symbology.GS1_128_SSCC: (zxingcpp.BarcodeFormat.Code128, True),
    Symbology.EAN_13: (zxingcpp.BarcodeFormat.EAN13, False),
}
_LINEAR = frozenset({Symbology.GS1_128_SSCC, Symbology.EAN_13})
# Paper around the symbol beyond its own quiet zone: with only the 1-module quiet zone of
# a DataMatrix before darker board, zxing-cpp's finder misses some rotated symbols.
_CARD_MARGIN_MODULES = 4

Gray = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Label:
    """A grayscale label card and where its symbol (quiet zone included) sits on it."""

    image: Gray
    symbol_box: tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels, end exclusive
    module_px: int
    linear: bool


def _symbol(data: LabelData, module_px: int) -> Gray:
    fmt, gs1 = _FORMATS[data.symbology]
    barcode = zxingcpp.create_barcode(data.text, fmt, gs1=gs1)
    linear = data.symbology in _LINEAR
    image = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=module_px, add_hrt=linear))
    return np.where(image < 128, INK, PAPER).astype(np.uint8)


def _captions(data: LabelData) -> list[str]:
    gs1 = data.gs1
    if data.symbology is Symbology.GS1_128_SSCC:
        return ["SSCC  CASE LABEL", f"FROM {gs1['00'][1:8]}"]
    if data.symbology is Symbology.EAN_13:
        return [f"ITEM {gs1['01'][8:13]}"]
    expiry = gs1["17"]
    return [
        f"GTIN {gs1['01']}",
        f"EXP 20{expiry[:2]}-{expiry[2:4]}-{expiry[4:]}",
        f"LOT {gs1['10']}",
        f"SN {gs1['21']}",
    ]


def _text_block(lines: list[str], module_px: int) -> Gray:
    scale = _FONT_SCALE_PER_MODULE * module_px
    sizes = [cv2.getTextSize(line, _FONT, scale, 1) for line in lines]
    line_height = max(size[1] + base for size, base in sizes) + module_px
    width = max(size[0] for size, _ in sizes)
    block = np.full((line_height * len(lines), width), PAPER, np.uint8)
    for row, (line, ((_, height), _)) in enumerate(zip(lines, sizes, strict=True)):
        origin = (0, row * line_height + height + module_px // 2)
        cv2.putText(block, line, origin, _FONT, scale, INK, 1, cv2.LINE_AA)
    return block


def _pad(image: Gray, top: int, bottom: int, left: int, right: int) -> Gray:
    padded = cv2.copyMakeBorder(image, top, bottom, left, right, cv2.BORDER_CONSTANT, value=PAPER)
    return np.asarray(padded, np.uint8)


def render_label(data: LabelData, module_px: int) -> Label:
    """The label for ``data`` with ``module_px`` pixels per module (before any warp).

    2D symbols sit left of their text, as on pharmaceutical cartons; linear ones under a
    header, as on case and retail labels.
    """
    if module_px < 1:
        raise ValueError(f"module_px must be at least 1, got {module_px}")
    symbol = _symbol(data, module_px)
    text = _text_block(_captions(data), module_px)
    margin = _CARD_MARGIN_MODULES * module_px
    sh, sw = symbol.shape
    th, tw = text.shape
    if data.symbology in _LINEAR:
        width = max(sw, tw)
        header = _pad(text, 0, margin, 0, width - tw)
        body = _pad(symbol, 0, 0, 0, width - sw)
        card = _pad(np.vstack([header, body]), margin, margin, margin, margin)
        box = (margin, margin + th + margin, margin + sw, margin + th + margin + sh)
    else:
        height = max(sh, th)
        left = _pad(symbol, (height - sh) // 2, height - sh - (height - sh) // 2, 0, margin)
        right = _pad(text, (height - th) // 2, height - th - (height - th) // 2, 0, 0)
        card = _pad(np.hstack([left, right]), margin, margin, margin, margin)
        top = margin + (height - sh) // 2
        box = (margin, top, margin + sw, top + sh)
    return Label(card, box, module_px, data.symbology in _LINEAR)
