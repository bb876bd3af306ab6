"""What a camera on a packing line does to a label, graded by level.

Effects that belong to one item (rotation, perspective, module size, motion blur, defocus,
occlusion) are baked into that item's sprite once; effects that belong to the camera
(uneven light, sensor noise, JPEG artefacts) are applied per frame with cheap OpenCV
calls over precomputed maps, so a frame costs a few milliseconds at 1280x720.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from linetrace.synth.kinds import Level
from linetrace.synth.labels import Label

__all__ = [
    "PROFILES",
    "Degradation",
    "Level",
    "LightMap",
    "NoiseBank",
    "defocus",
    "jpeg_artefacts",
    "motion_blur",
    "occlude",
]

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Degradation:
    """The ranges one level draws from; a pair ``(a, b)`` is drawn uniformly per item."""

    module_px_2d: tuple[float, float]  # pixels per module of DataMatrix and QR
    module_px_1d: tuple[float, float]  # pixels per narrow bar of GS1-128 and EAN-13
    rotation_2d: float  # largest label rotation in degrees (2D symbols read at any angle)
    rotation_1d: float  # largest tilt of a linear symbol away from its quarter turn
    quarter_turns_1d: tuple[int, ...]  # the quarter turns a linear symbol may lie at
    perspective: float  # largest keystone: how much shorter a box top's far edge looks
    box_yaw: float  # largest turn of a box on the belt in degrees (turns its label too)
    motion_blur_px: tuple[float, float]  # blur length along the belt, per item
    defocus_sigma: tuple[float, float]  # Gaussian sigma in pixels, per item
    noise_sigma: float  # sensor noise, grey levels
    light: float  # depth of the uneven lighting, as a fraction of full brightness
    jpeg_quality: int | None  # camera-side compression; None for a lossless stream
    occluded: float  # share of labels covered so far they must not read
    subpixel_phases: int  # renderings of each sprite, 1/n px apart, shown as the belt moves


# Module sizes: zxing-cpp reads a clean 2D symbol from 2 px per module and a linear one
# from about 1.5 px per bar; "none" stays well above both so a plain read always works,
# "high" sits at the limit. Bars of 2.0-2.05 px are a trap: shifted half a pixel (by
# motion or by a decoder's own warp) every edge turns 50 % grey and zxing-cpp misses an
# EAN-13 or reads another number whose check digit fits, so "none" and "low" start at
# 2.2 px, where the same test reads every symbol right. A plain scan-line decoder tries only quarter turns, and a
# straight line crosses a whole GS1-128 SSCC symbol only up to about 16 degrees of tilt,
# so linear codes stay under that until "high", which needs a smarter reader. Noise, blur
# and JPEG levels follow what cheap industrial cameras show at short exposures under
# factory lighting. A box moves by fractions of a pixel between frames, so from "low" on
# each sprite is also drawn half a pixel over and the two alternate as the belt moves:
# real edges fall between pixels, and a decoder that fails at one phase gets another
# chance. "none" keeps whole-pixel steps: clean footage, one rendering per sprite.
PROFILES: dict[Level, Degradation] = {
    Level.NONE: Degradation(
        module_px_2d=(3.0, 4.0),
        module_px_1d=(2.2, 2.5),
        rotation_2d=180.0,
        rotation_1d=3.0,
        quarter_turns_1d=(0, 2),
        perspective=0.0,
        box_yaw=0.0,
        motion_blur_px=(0.0, 0.0),
        defocus_sigma=(0.0, 0.0),
        noise_sigma=0.0,
        light=0.0,
        jpeg_quality=None,
        occluded=0.0,
        subpixel_phases=1,
    ),
    Level.LOW: Degradation(
        module_px_2d=(2.8, 4.0),
        module_px_1d=(2.2, 2.7),
        rotation_2d=180.0,
        rotation_1d=6.0,
        quarter_turns_1d=(0, 1, 2, 3),
        perspective=0.04,
        box_yaw=3.0,
        motion_blur_px=(0.0, 1.5),
        defocus_sigma=(0.0, 0.5),
        noise_sigma=3.0,
        light=0.2,
        jpeg_quality=None,
        occluded=0.05,
        subpixel_phases=2,
    ),
    Level.MEDIUM: Degradation(
        module_px_2d=(2.4, 3.5),
        module_px_1d=(1.8, 2.4),
        rotation_2d=180.0,
        rotation_1d=12.0,
        quarter_turns_1d=(0, 1, 2, 3),
        perspective=0.08,
        box_yaw=8.0,
        motion_blur_px=(0.5, 2.0),
        defocus_sigma=(0.2, 0.7),
        noise_sigma=6.0,
        light=0.35,
        jpeg_quality=70,
        occluded=0.08,
        subpixel_phases=2,
    ),
    Level.HIGH: Degradation(
        module_px_2d=(2.0, 3.0),
        module_px_1d=(1.5, 2.2),
        rotation_2d=180.0,
        rotation_1d=45.0,
        quarter_turns_1d=(0, 1, 2, 3),
        perspective=0.14,
        box_yaw=15.0,
        motion_blur_px=(1.0, 3.0),
        defocus_sigma=(0.4, 1.0),
        noise_sigma=10.0,
        light=0.5,
        jpeg_quality=50,
        occluded=0.12,
        subpixel_phases=2,
    ),
}


def motion_blur(image: Image, length_px: float) -> Image:
    """Smear ``image`` horizontally over ``length_px`` pixels, the belt's direction.

    A fractional length weights the two end taps, so blur grows smoothly with speed.
    """
    if length_px <= 1.0:
        return image
    taps = math.ceil(length_px) | 1  # odd, so the smear stays centred
    kernel = np.ones((1, taps), np.float32)
    edge = (length_px - (taps - 2)) / 2.0
    kernel[0, 0] = kernel[0, -1] = edge
    kernel /= kernel.sum()
    return np.asarray(cv2.filter2D(image, -1, kernel, borderType=cv2.BORDER_CONSTANT), np.uint8)


def defocus(image: Image, sigma: float) -> Image:
    """A lens slightly out of focus: a Gaussian blur; nothing below a tenth of a pixel."""
    if sigma < 0.1:
        return image
    blurred = cv2.GaussianBlur(image, (0, 0), sigma, borderType=cv2.BORDER_CONSTANT)
    return np.asarray(blurred, np.uint8)


# A sticker or torn patch covers at least this share of the symbol's width, across its
# full height: more than any Reed-Solomon level can repair (at most about 30 %) and
# through every scan line of a linear code, so the symbol cannot decode.
OCCLUDED_SHARE = (0.6, 0.8)
_STICKER = 205  # a grey price sticker: plainly not label paper, nor ink
_STICKER_INK = 90


def occlude(label: Label, rng: np.random.Generator) -> Label:
    """``label`` with an opaque sticker over most of its symbol, so it must not read."""
    image = label.image.copy()
    x0, y0, x1, y1 = label.symbol_box
    width = x1 - x0
    share = rng.uniform(*OCCLUDED_SHARE)
    cover = math.ceil(width * share)
    start = x0 + int(rng.integers(0, width - cover + 1))
    overhang = label.module_px * 2
    top, bottom = max(0, y0 - overhang), min(image.shape[0], y1 + overhang)
    cv2.rectangle(image, (start, top), (start + cover - 1, bottom - 1), _STICKER, cv2.FILLED)
    scale = 0.25 * label.module_px
    origin = (start + label.module_px, (top + bottom) // 2)
    cv2.putText(image, "-20%", origin, cv2.FONT_HERSHEY_SIMPLEX, scale, _STICKER_INK, 1)
    return Label(image, label.symbol_box, label.module_px, label.linear)


class LightMap:
    """Uneven light: a slope across the frame and a soft hot spot, fixed per video."""

    # Gains are stored as uint8 over this divisor so one cv2.multiply applies them;
    # 128 gives gains up to ~2 in steps under 1 %.
    _ONE = 128.0

    def __init__(self, height: int, width: int, depth: float, rng: np.random.Generator) -> None:
        ys, xs = np.mgrid[0:height, 0:width].astype(np.float32)
        angle = rng.uniform(0, 2 * math.pi)
        slope = (xs / width - 0.5) * math.cos(angle) + (ys / height - 0.5) * math.sin(angle)
        cx, cy = rng.uniform(0.2, 0.8) * width, rng.uniform(0.2, 0.8) * height
        radius = rng.uniform(0.25, 0.5) * width
        spot = np.exp(-((xs - cx) ** 2 + (ys - cy) ** 2) / (2 * radius**2))
        gain = 1.0 - depth * 0.5 + depth * (0.6 * slope + 0.5 * spot)
        single = np.clip(gain * self._ONE, 0, 255).astype(np.uint8)
        self.gain = np.asarray(cv2.merge([single, single, single]), np.uint8)

    def apply(self, frame: Image) -> Image:
        return np.asarray(cv2.multiply(frame, self.gain, scale=1.0 / self._ONE), np.uint8)


class NoiseBank:
    """Sensor noise: a few precomputed fields, cut at a random offset for each frame.

    Drawing fresh Gaussian noise for every 1280x720 frame would cost more than all other
    effects together; shifting a slightly larger field by a random offset looks the same
    to a decoder and to an eye.
    """

    # Three fields at 64 x 64 offsets: a frame repeats another's noise once in ~12 000.
    _FIELDS = 3
    _MARGIN = 64

    def __init__(self, height: int, width: int, sigma: float, rng: np.random.Generator) -> None:
        self._height, self._width = height, width
        self._rng = rng
        shape = (height + self._MARGIN, width + self._MARGIN, 3)
        self._fields: list[tuple[Image, Image]] = []
        for _ in range(self._FIELDS):
            noise = (rng.standard_normal(shape, np.float32) * sigma).round().clip(-255, 255)
            positive = noise.clip(0, None).astype(np.uint8)
            negative = (-noise).clip(0, None).astype(np.uint8)
            self._fields.append((positive, negative))

    def apply(self, frame: Image) -> Image:
        positive, negative = self._fields[int(self._rng.integers(self._FIELDS))]
        dy, dx = (int(v) for v in self._rng.integers(0, self._MARGIN, 2))
        window = np.s_[dy : dy + self._height, dx : dx + self._width]
        brighter = cv2.add(frame, positive[window])
        return np.asarray(cv2.subtract(brighter, negative[window]), np.uint8)


def jpeg_artefacts(frame: Image, quality: int) -> Image:
    """The blocks and ringing of a camera that streams JPEG at ``quality``."""
    ok, encoded = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a frame")
    return np.asarray(cv2.imdecode(encoded, cv2.IMREAD_COLOR), np.uint8)
