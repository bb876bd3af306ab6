"""Photo-like pictures of labels, one symbol each: for the single-image and still-item tests.

Each label is a printed card (ink never pure black, paper never pure white) with zxing-cpp's
own symbol on it, laid on a darker textured surface, seen at a slant (a perspective warp
and a small turn), slightly out of focus, with sensor noise and JPEG compression: what a
phone or a line camera gives, not the clean image an encoder writes. Seeded, so every run
draws the same pictures.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
import zxingcpp

from linetrace.synth.degrade import defocus, jpeg_artefacts
from tests.edge.barcodes import Image, with_check_digit

INK, PAPER = 35, 232


@dataclass(frozen=True)
class Code:
    """One symbol to print: what to encode, and what a read of it must give."""

    name: str
    fmt: zxingcpp.BarcodeFormat
    content: str
    gs1: bool = False
    module_px: int = 3
    gtin: str | None = None  # the GTIN-14 a read must carry, for EAN/UPC
    text: str | None = None  # the plain text a read must carry, otherwise


SSCC = with_check_digit("08938500000004217")
GTIN13 = with_check_digit("893850000012")
EAN13 = Code("ean-13", zxingcpp.BarcodeFormat.EAN13, GTIN13, gtin="0" + GTIN13)
UPCA = Code("upc-a", zxingcpp.BarcodeFormat.UPCA, "036000291452", gtin="00036000291452")
EAN8 = Code("ean-8", zxingcpp.BarcodeFormat.EAN8, "96385074", gtin="00000096385074")
GS1_128 = Code("gs1-128", zxingcpp.BarcodeFormat.Code128, f"(00){SSCC}", gs1=True, text=f"00{SSCC}")
CODE128 = Code("code-128", zxingcpp.BarcodeFormat.Code128, "LT-CASE-0042", text="LT-CASE-0042")
DATAMATRIX = Code(
    "gs1-datamatrix",
    zxingcpp.BarcodeFormat.DataMatrix,
    f"(01)0{GTIN13}(10)L26",
    gs1=True,
    module_px=5,
    text=f"010{GTIN13}10L26",
)
QR = Code(
    "qr-digital-link",
    zxingcpp.BarcodeFormat.QRCode,
    f"https://id.example.com/01/0{GTIN13}/10/L26",
    module_px=5,
    text=f"https://id.example.com/01/0{GTIN13}/10/L26",
)
LINEAR = (EAN13, UPCA, EAN8, GS1_128, CODE128)
EVERY = (*LINEAR, DATAMATRIX, QR)


def label(code: Code, *, module_px: int | None = None) -> Image:
    """The printed card: the symbol (with its digits under linear bars) on paper."""
    if code.gs1:
        barcode = zxingcpp.create_barcode(code.content, code.fmt, gs1=True)
    else:
        barcode = zxingcpp.create_barcode(code.content, code.fmt)
    linear = code.fmt not in (zxingcpp.BarcodeFormat.DataMatrix, zxingcpp.BarcodeFormat.QRCode)
    scale = module_px or code.module_px
    drawn = np.asarray(zxingcpp.write_barcode_to_image(barcode, scale=scale, add_hrt=linear))
    card = np.where(drawn < 128, INK, PAPER).astype(np.uint8)
    room = 12 * scale
    padded = cv2.copyMakeBorder(card, room, room, room, room, cv2.BORDER_CONSTANT, value=PAPER)
    return np.asarray(padded, np.uint8)


def photo(
    code: Code,
    size: tuple[int, int] = (1024, 768),
    *,
    seed: int = 1,
    at: tuple[float, float] = (0.5, 0.5),
    module_px: int | None = None,
) -> Image:
    """A BGR picture of ``size`` (width, height) of ``code``'s label, its centre at ``at``
    (shares of the width and height), photographed as the module docstring says."""
    rng = np.random.default_rng(seed)
    width, height = size
    surface = rng.normal(95.0, 12.0, (height // 8 + 1, width // 8 + 1))
    background = cv2.resize(surface, (width, height), interpolation=cv2.INTER_CUBIC)
    card = label(code, module_px=module_px).astype(np.float64)
    ch, cw = card.shape
    corners = np.array([[0, 0], [cw, 0], [cw, ch], [0, ch]], np.float64)
    # A slanted view: the far edge a few per cent shorter, the card turned a few degrees.
    squeeze = rng.uniform(0.03, 0.07) * cw
    seen = corners + np.array([[squeeze, 0], [-squeeze, 0], [0, 0], [0, 0]])
    turn = np.radians(rng.uniform(-4.0, 4.0))
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.array([at[0] * width, at[1] * height])
    placed = (seen - [cw / 2, ch / 2]) @ rotation.T + centre
    warp = cv2.getPerspectiveTransform(corners.astype(np.float32), placed.astype(np.float32))
    card_seen = cv2.warpPerspective(card, warp, (width, height), flags=cv2.INTER_LINEAR)
    mask = cv2.warpPerspective(np.ones_like(card), warp, (width, height), flags=cv2.INTER_LINEAR)
    light = np.linspace(1.0, 0.85, width)[None, :]  # uneven light across the picture
    scene = (mask * card_seen + (1.0 - mask) * background) * light
    gray = np.clip(scene, 0, 255).astype(np.uint8)
    blurred = defocus(gray, rng.uniform(0.6, 0.9))
    noisy = np.clip(blurred + rng.normal(0.0, 3.0, blurred.shape), 0, 255).astype(np.uint8)
    return jpeg_artefacts(np.asarray(cv2.cvtColor(noisy, cv2.COLOR_GRAY2BGR), np.uint8), 85)


def with_noise(image: Image, sigma: float, seed: int) -> Image:
    """``image`` with fresh sensor noise: the next frame of a camera looking at a still scene."""
    rng = np.random.default_rng(seed)
    noisy = image.astype(np.float64) + rng.normal(0.0, sigma, image.shape)
    return np.clip(noisy, 0, 255).astype(np.uint8)
