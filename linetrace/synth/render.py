"""Drawing the frames of a laid-out run: boxes, labels, shadows, the belt and the camera."""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

import cv2
import numpy as np

from linetrace.synth.degrade import (
    PROFILES,
    Degradation,
    LightMap,
    NoiseBank,
    defocus,
    jpeg_artefacts,
    motion_blur,
    occlude,
)
from linetrace.synth.kinds import Level
from linetrace.synth.labels import Label, render_label
from linetrace.synth.layout import Item, Layout
from linetrace.synth.spec import (
    CAMERA_STREAM,
    RAIL_SHARE,
    SPRITE_STREAM,
    ConveyorSpec,
    Image,
    Matrix,
)

__all__ = ["frames"]

_SHADOW_OFFSET = (5, 7)  # the line's lights hang slightly up-belt and to the side

_SHADOW_SIGMA = 4.0

_SHADOW_DEPTH = 0.45  # a soft shadow darkens the belt by at most this share

_BELT_PERIOD = 256  # the belt texture repeats this often; seams are far enough apart

_KRAFT = (96, 142, 184)  # BGR of brown corrugated board under white light

_TAPE = (120, 175, 205)  # BGR of tan packing tape, a little lighter than the board


@dataclass(frozen=True)
class _Sprite:
    premultiplied: Image  # colour already multiplied by alpha
    transparency: Image  # 255 - alpha, three channels, ready for cv2.multiply


def _box_texture(width: int, height: int, rng: np.random.Generator) -> Image:
    """Corrugated board: a tinted base, coarse blotches and fine fibres, maybe a tape strip."""
    tint = np.array(_KRAFT, np.float32) + rng.uniform(-14, 14)
    blotches = rng.standard_normal((max(2, height // 16), max(2, width // 16)), np.float32)
    coarse = cv2.resize(blotches * 6, (width, height), interpolation=cv2.INTER_CUBIC)
    fine = rng.standard_normal((height, width), np.float32) * 3
    box = tint + (coarse + fine)[:, :, None]
    if rng.random() < 0.5:
        band = int(rng.integers(height // 5, height // 3))
        start = int(rng.integers(0, height - band))
        box[start : start + band] += np.array(_TAPE, np.float32) - tint
    cv2.rectangle(box, (0, 0), (width - 1, height - 1), (60, 90, 120), 2)
    return np.clip(box, 0, 255).astype(np.uint8)


def _item_label(spec: ConveyorSpec, item: Item) -> Label:
    label = render_label(item.data, item.label_module_px)
    if item.readable:
        return label
    return occlude(label, np.random.default_rng([spec.seed, SPRITE_STREAM, item.index, 1]))


def _warp(image: Image, homography: Matrix, size: tuple[int, int]) -> Image:
    warped = cv2.warpPerspective(
        image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return _u8(warped)


def _render_sprite(spec: ConveyorSpec, item: Item, phases: int) -> tuple[_Sprite, ...]:
    """The item's sprite at each sub-pixel phase; texture and label are drawn once."""
    box = _box_texture(
        *item.box_size, np.random.default_rng([spec.seed, SPRITE_STREAM, item.index])
    )
    label = _u8(cv2.cvtColor(_item_label(spec, item).image, cv2.COLOR_GRAY2BGR))
    return tuple(_compose(item, box, label, phase / phases) for phase in range(phases))


def _u8(image: cv2.typing.MatLike) -> Image:
    return np.asarray(image, np.uint8)


def _compose(item: Item, box: Image, label: Image, nudge_px: float) -> _Sprite:
    """Box, label, shadow and blur in one premultiplied sprite, nudged right by a fraction.

    Every step is one OpenCV call on uint8 planes: a sprite costs about a millisecond.
    """
    nudge = np.array([[1, 0, nudge_px], [0, 1, 0], [0, 0, 1]], np.float64)
    box_to_sprite, label_to_sprite = nudge @ item.box_to_sprite, nudge @ item.label_to_sprite
    size = item.sprite_size
    box_alpha = _warp(np.full(box.shape[:2], 255, np.uint8), box_to_sprite, size)
    label_alpha = _warp(np.full(label.shape[:2], 255, np.uint8), label_to_sprite, size)
    label_weight = label_alpha.astype(np.float32) * np.float32(1 / 255)
    colour = cv2.blendLinear(
        _warp(label, label_to_sprite, size),
        _warp(box, box_to_sprite, size),
        label_weight,
        1 - label_weight,
    )
    premultiplied = cv2.multiply(colour, cv2.merge([box_alpha] * 3), scale=1 / 255)
    shift = np.array([[1, 0, _SHADOW_OFFSET[0]], [0, 1, _SHADOW_OFFSET[1]]], np.float32)
    shadow = cv2.GaussianBlur(cv2.warpAffine(box_alpha, shift, size), (0, 0), _SHADOW_SIGMA)
    shadow = cv2.multiply(shadow, 255 - box_alpha, scale=_SHADOW_DEPTH / 255)
    alpha = _u8(cv2.add(box_alpha, shadow))
    premultiplied, alpha = (
        defocus(motion_blur(_u8(x), item.motion_blur_px), item.defocus_sigma)
        for x in (premultiplied, alpha)
    )
    return _Sprite(premultiplied=premultiplied, transparency=_u8(cv2.merge([255 - alpha] * 3)))


class _Belt:
    """The static frame (rails) and a belt strip that scrolls with the items."""

    def __init__(self, spec: ConveyorSpec, blur_px: float, rng: np.random.Generator) -> None:
        self._width = spec.width
        self._rail = round(spec.height * RAIL_SHARE)
        band = spec.height - 2 * self._rail
        tile = 70 + rng.normal(0, 5, (band, _BELT_PERIOD)).astype(np.float32)
        tile = np.asarray(cv2.GaussianBlur(tile, (0, 0), 0.8), np.float32)
        for seam in (0, _BELT_PERIOD // 2):
            tile[:, seam : seam + 3] -= 18  # the joints between belt slats
        # A spare period each side keeps the blur's dark borders out of view.
        repeats = math.ceil(spec.width / _BELT_PERIOD) + 3
        strip = np.tile(np.clip(tile, 0, 255).astype(np.uint8), (1, repeats))
        strip = motion_blur(strip, blur_px)
        self._strip = cv2.cvtColor(strip, cv2.COLOR_GRAY2BGR)
        rail_row = np.linspace(150, 95, self._rail, dtype=np.float32)[:, None]
        rail = np.repeat(rail_row, spec.width, axis=1).astype(np.uint8)
        base = np.zeros((spec.height, spec.width, 3), np.uint8)
        base[: self._rail] = cv2.cvtColor(rail, cv2.COLOR_GRAY2BGR)
        base[spec.height - self._rail :] = base[: self._rail][::-1]
        self._base = base

    def frame(self, travel: int) -> Image:
        frame = self._base.copy()
        start = 2 * _BELT_PERIOD - travel % _BELT_PERIOD
        frame[self._rail : frame.shape[0] - self._rail] = self._strip[
            :, start : start + self._width
        ]
        return frame


def _paste(frame: Image, sprite: _Sprite, x: int, y: int) -> None:
    height, width = sprite.premultiplied.shape[:2]
    left, right = max(0, -x), min(width, frame.shape[1] - x)
    if right <= left:
        return
    roi = frame[y : y + height, x + left : x + right]
    kept = cv2.multiply(roi, sprite.transparency[:, left:right], scale=1 / 255)
    roi[:] = cv2.add(kept, sprite.premultiplied[:, left:right])


class _Camera:
    """Per-frame effects of the camera, in the order light reaches the sensor."""

    def __init__(self, spec: ConveyorSpec, profile: Degradation) -> None:
        rng = np.random.default_rng([spec.seed, CAMERA_STREAM])
        h, w = spec.height, spec.width
        self._light = LightMap(h, w, profile.light, rng) if profile.light > 0 else None
        self._noise = NoiseBank(h, w, profile.noise_sigma, rng) if profile.noise_sigma else None
        self._quality = profile.jpeg_quality

    def shoot(self, frame: Image) -> Image:
        if self._light is not None:
            frame = self._light.apply(frame)
        if self._noise is not None:
            frame = self._noise.apply(frame)
        if self._quality is not None:
            frame = jpeg_artefacts(frame, self._quality)
        return frame


def frames(spec: ConveyorSpec, layout: Layout) -> Iterator[Image]:
    """Items enter at the left in layout order and leave at the right in the same order."""
    profile = PROFILES[Level(spec.degradation)]
    belt_blur = sum(profile.motion_blur_px) / 2
    belt = _Belt(spec, belt_blur, np.random.default_rng([spec.seed, CAMERA_STREAM, 1]))
    camera = _Camera(spec, profile)
    upcoming = deque(layout.items)
    in_view: deque[tuple[Item, tuple[_Sprite, ...]]] = deque()
    for index in range(layout.frames):
        travel = layout.position(index)
        while upcoming and travel - upcoming[0].distance + upcoming[0].sprite_size[0] > 0:
            item = upcoming.popleft()
            in_view.append((item, _render_sprite(spec, item, layout.phases)))
        while in_view and travel - in_view[0][0].distance >= spec.width:
            in_view.popleft()
        frame = belt.frame(travel)
        phase = layout.phase(index)
        for item, sprites in in_view:
            _paste(frame, sprites[phase], travel - item.distance, item.top)
        yield camera.shoot(frame)
