"""Scenes for the locator, reader and scanner tests: real symbols, turned, covered, moved.

Everything is drawn from zxing-cpp's own encoder (via :mod:`tests.edge.barcodes`) and
OpenCV, and the synthetic conveyor's truth scores what a scan found.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime

import cv2
import numpy as np
import zxingcpp

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.line.passage import Passage
from linetrace.synth.conveyor import Truth
from tests.edge.barcodes import Image, code_image, with_check_digit

SSCC = with_check_digit("08938500000000012")  # 18 digits: extension, prefix, serial, check
SSCC_HRI = f"(00){SSCC}"
EAN13 = with_check_digit("893850000001")
# The synthetic generator's label kinds and the symbology the decoder reports for each.
SYMBOLOGY_OF_KIND = {
    "gs1-datamatrix": "DataMatrix",
    "gs1-qr-digital-link": "QRCode",
    "gs1-128-sscc": "Code128",
    "ean-13": "EAN13",
}


def gs1_128(hri: str = SSCC_HRI, *, scale: int = 2) -> Image:
    return code_image(hri, zxingcpp.BarcodeFormat.Code128, gs1=True, scale=scale)


def ean13(digits: str = EAN13, *, scale: int = 2) -> Image:
    return code_image(digits, zxingcpp.BarcodeFormat.EAN13, scale=scale)


def turned(image: Image, degrees: float, *, pad: int = 40) -> Image:
    """``image`` on white with ``pad`` px around it, turned ``degrees`` counter-clockwise
    on a canvas large enough to hold all of it."""
    padded = cv2.copyMakeBorder(image, pad, pad, pad, pad, cv2.BORDER_CONSTANT, value=255)
    height, width = padded.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), degrees, 1.0)
    cos, sin = abs(turn[0, 0]), abs(turn[0, 1])
    size = (int(height * sin + width * cos), int(height * cos + width * sin))
    turn[0, 2] += size[0] / 2 - width / 2
    turn[1, 2] += size[1] / 2 - height / 2
    out = cv2.warpAffine(padded, turn, size, flags=cv2.INTER_LINEAR, borderValue=255)
    return np.asarray(out, np.uint8)


def covered(image: Image, share: float = 0.7) -> Image:
    """``image`` with a grey sticker over the middle ``share`` of its width: unreadable."""
    out = image.copy()
    width = out.shape[1]
    start = int(width * (1 - share) / 2)
    out[:, start : start + int(width * share)] = 205
    return out


def boxes(frame_size: tuple[int, int], placements: list[tuple[Image, int, int]]) -> Image:
    """A grey belt frame (BGR) of ``frame_size`` (width, height) with each image (a label
    card) pasted at its ``(x, y)``, cut where it leaves the frame."""
    width, height = frame_size
    frame = np.full((height, width, 3), 70, np.uint8)
    for image, x, y in placements:
        h, w = image.shape[:2]
        left, top = max(0, x), max(0, y)
        right, bottom = min(width, x + w), min(height, y + h)
        if right > left and bottom > top:
            part = image[top - y : bottom - y, left - x : right - x]
            frame[top:bottom, left:right] = part[:, :, None] if part.ndim == 2 else part
    return frame


def place(image: Image, frame_size: tuple[int, int], x: int, y: int) -> Image:
    """A grey belt frame (BGR) of ``frame_size`` (width, height), ``image`` pasted at x, y
    (cut where it leaves the frame)."""
    return boxes(frame_size, [(image, x, y)])


@dataclass
class Scored:
    """A scan against a synthetic video's truth."""

    read: list[int] = field(default_factory=list)  # truth indices read, once each
    duplicates: list[str] = field(default_factory=list)
    false_reads: list[str] = field(default_factory=list)
    noreads: Counter[int] = field(default_factory=Counter)  # occluded index -> no-reads
    stray_noreads: list[int] = field(default_factory=list)  # first frames of unmatched ones


def score(truth: Truth, passages: list[Passage], start: datetime) -> Scored:
    """Match each passage to the truth item in view when it was first seen."""
    result = Scored()
    fps = truth.spec.fps
    for passage in sorted(passages, key=lambda p: p.first_seen):
        frame = round((passage.first_seen - start).total_seconds() * fps)
        in_view = [i for i in truth.items if i.first_frame - 1 <= frame <= i.last_frame]
        if passage.kind is EventKind.NOREAD:
            hidden = [i for i in in_view if not i.readable]
            fresh = [i for i in hidden if not result.noreads[i.index]]
            if fresh or hidden:
                result.noreads[(fresh or hidden)[0].index] += 1
            else:
                result.stray_noreads.append(frame)
            continue
        text = to_hri(passage.symbology_id, passage.text or "")
        same = [
            i
            for i in in_view
            if i.readable and i.text == text and SYMBOLOGY_OF_KIND[i.symbology] == passage.symbology
        ]
        fresh = [i for i in same if i.index not in result.read]
        if fresh:
            result.read.append(fresh[0].index)
        elif same:
            result.duplicates.append(text)
        else:
            result.false_reads.append(text)
    return result
