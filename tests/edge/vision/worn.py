"""Worn footage for the reader tests: what a fast belt and a cheap camera do to a label.

Seeded, so every run sees the same pixels: scaled down (thin modules), smeared along the
belt, defocused, noisy and JPEG-compressed, as :mod:`linetrace.synth.degrade` does to the
synthetic conveyor footage.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from tests.edge.barcodes import Image


@dataclass(frozen=True)
class Wear:
    """How a frame is worn: ``scale`` of the drawn size, a smear of ``motion_px`` along x
    and a lens blur of ``sigma_px`` (both after scaling), Gaussian ``noise`` in grey
    levels and JPEG at ``quality``."""

    scale: float
    motion_px: float
    sigma_px: float
    noise: float
    quality: int


def worn(frame: Image, wear: Wear, seed: int) -> Image:
    """``frame`` (BGR or grey) as the camera would deliver it (grey)."""
    gray = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    small = cv2.resize(gray, None, fx=wear.scale, fy=wear.scale, interpolation=cv2.INTER_AREA)
    taps = math.ceil(wear.motion_px) | 1
    smear = np.ones((1, taps), np.float32)
    smear[0, 0] = smear[0, -1] = (wear.motion_px - (taps - 2)) / 2
    blurred = cv2.filter2D(small.astype(np.float32), -1, smear / smear.sum())
    blurred = cv2.GaussianBlur(blurred, (0, 0), wear.sigma_px)
    noise = np.random.default_rng(seed).normal(0.0, wear.noise, blurred.shape)
    noisy = np.clip(blurred + noise, 0, 255).astype(np.uint8)
    ok, encoded = cv2.imencode(".jpg", noisy, [cv2.IMWRITE_JPEG_QUALITY, wear.quality])
    assert ok
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE), np.uint8)
