"""Seeded conveyor footage: labelled boxes riding a belt left to right, with its truth.

Everything is drawn from the seed, so the same spec gives byte-identical frames and the
same truth on every run. The work is split so frames stay cheap: a first pass lays out
every item (its codes, size, angle and place on the belt) without drawing; each item's
sprite (box, label, shadow, blur) is drawn once when it enters the view and only pasted
after that; camera effects are precomputed maps applied with one OpenCV call each.

Known limits: boxes are flat top faces pasted on a flat belt (a keystone stands in for a
camera's perspective), and a box never turns while it rides. A plain zxing-cpp read of
this footage can report symbols the truth does not list, as it does on real footage:
half an EAN-13 cut by the frame edge read as UPC-E (in clean footage too, a frame or two
per few hundred items), and at "medium" and "high" a misread EAN-13 or GS1-128 whose
check digit happens to fit. Dropping results that touch the frame border or come in a
format the line does not print removes the first kind; the second needs agreement
across frames or a check against the batch.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import cv2
import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, TypeAdapter

from linetrace.synth.codes import CodeFactory, LabelData
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
from linetrace.synth.kinds import Level, Symbology
from linetrace.synth.labels import Label, render_label

__all__ = [
    "DEGRADATIONS",
    "MAX_FPS",
    "MAX_ITEMS_PER_SECOND",
    "SYMBOLOGIES",
    "ConveyorSpec",
    "Truth",
    "TruthItem",
    "plan",
    "render_frames",
    "truth_path",
    "write_conveyor",
    "write_image_folder",
]

logger = logging.getLogger(__name__)

Image = npt.NDArray[np.uint8]
Matrix = npt.NDArray[np.float64]

SYMBOLOGIES: tuple[str, ...] = tuple(s.value for s in Symbology)
DEGRADATIONS: tuple[str, ...] = tuple(level.value for level in Level)
# The fastest packing lines a single camera station serves run at about 20 items/s.
MAX_ITEMS_PER_SECOND = 20.0
# A tracker needs each label whole in a few frames to tell one passage from two.
MIN_FULL_VIEW_FRAMES = 2
# Smaller frames cannot hold even one box with the smallest label on it.
MIN_WIDTH, MIN_HEIGHT = 320, 240
# Area-scan cameras on packing lines top out near this rate at 720p.
MAX_FPS = 240.0
# Belt and box geometry, in pixels of a 720p-class camera looking straight down.
_RAIL_SHARE = 0.06  # side rails: a strip of steel at the top and bottom of the frame
_BELT_PERIOD = 256  # the belt texture repeats this often; seams are far enough apart
_BOX_MARGIN = (12, 40)  # cardboard around the label on each side
# Free belt between two boxes: never touching, and wider than a shadow reaches (offset
# plus three sigma, 17 px), so no box darkens the next.
_GAP = (24, 120)
_SHADOW_OFFSET = (5, 7)  # the line's lights hang slightly up-belt and to the side
_SHADOW_SIGMA = 4.0
_SHADOW_DEPTH = 0.45  # a soft shadow darkens the belt by at most this share
_SPRITE_PAD = 32  # room around a box for its shadow and motion blur
# Independent random streams: the layout, each sprite's texture and the per-frame camera
# effects draw from their own generators, so drawing one never shifts another.
_LAYOUT, _SPRITE, _CAMERA = 1, 2, 3
_LINEAR = frozenset({Symbology.GS1_128_SSCC, Symbology.EAN_13})


def _default_mix() -> dict[str, float]:
    return {name: 1.0 for name in SYMBOLOGIES}


@dataclass(frozen=True)
class ConveyorSpec:
    """What to generate; every field is checked when the spec is made."""

    items: int = 100
    fps: float = 30.0
    width: int = 1280
    height: int = 720
    items_per_second: float = 2.0
    seed: int = 0
    mix: dict[str, float] = field(default_factory=_default_mix)
    degradation: str = "low"

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    def __hash__(self) -> int:  # the mix is a dict; hash its items so specs can key caches
        fields = (self.items, self.fps, self.width, self.height, self.items_per_second)
        return hash((*fields, self.seed, tuple(sorted(self.mix.items())), self.degradation))

    def __post_init__(self) -> None:
        problems = [*self._shape_problems(), *self._mix_problems()]
        if problems:
            raise ValueError("invalid conveyor spec: " + "; ".join(problems))

    def _shape_problems(self) -> Iterator[str]:
        if self.items < 1:
            yield f"items must be at least 1, got {self.items}"
        if not 0 < self.fps <= MAX_FPS:
            yield f"fps must be in (0, {MAX_FPS:g}], got {self.fps}"
        if self.width < MIN_WIDTH or self.height < MIN_HEIGHT:
            yield f"frame must be at least {MIN_WIDTH}x{MIN_HEIGHT}, got {self.width}x{self.height}"
        if not 0 < self.items_per_second <= MAX_ITEMS_PER_SECOND:
            limit = f"{MAX_ITEMS_PER_SECOND:g}"
            yield f"items_per_second must be in (0, {limit}], got {self.items_per_second}"
        if self.seed < 0:
            yield f"seed must not be negative, got {self.seed}"
        if self.degradation not in DEGRADATIONS:
            yield f"degradation must be one of {', '.join(DEGRADATIONS)}, got {self.degradation!r}"

    def _mix_problems(self) -> Iterator[str]:
        unknown = ", ".join(sorted(set(self.mix) - set(SYMBOLOGIES)))
        if unknown:
            yield f"unknown symbologies in mix: {unknown} (known: {', '.join(SYMBOLOGIES)})"
        weights = list(self.mix.values())
        if any(not math.isfinite(w) or w < 0 for w in weights):
            yield "mix weights must be finite and not negative"
        elif sum(weights) <= 0:
            yield "mix needs at least one positive weight"


@dataclass(frozen=True)
class TruthItem:
    """One item as generated: what its label says and when it is in view."""

    index: int
    symbology: str
    text: str  # exactly what zxing-cpp returns with its default (HRI) text mode
    gs1: dict[str, str] | None
    readable: bool  # False when the label is occluded on purpose and must never decode
    first_frame: int  # first frame in which the label is at least partly in view
    last_frame: int  # last such frame, inclusive

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")


@dataclass(frozen=True)
class Truth:
    """The ground truth of one video: its spec, its length and every item in order."""

    spec: ConveyorSpec
    frames: int
    items: list[TruthItem]

    __pydantic_config__: ClassVar[ConfigDict] = ConfigDict(extra="forbid")

    def __post_init__(self) -> None:
        """Refuse a truth that contradicts itself, e.g. a hand-edited file."""
        for position, item in enumerate(self.items):
            if item.index != position:
                raise ValueError(f"truth item {position} has index {item.index}")
            if not 0 <= item.first_frame <= item.last_frame < self.frames:
                raise ValueError(
                    f"truth item {position} spans frames {item.first_frame}..{item.last_frame}"
                    f" outside the video's {self.frames}"
                )
        if len(self.items) != self.spec.items:
            raise ValueError(f"truth lists {len(self.items)} items, its spec {self.spec.items}")

    def to_json(self) -> str:
        return _TRUTH_ADAPTER.dump_json(self, indent=1).decode()

    @classmethod
    def from_json(cls, text: str) -> Truth:
        """Parse a truth file; a malformed one raises pydantic's ``ValidationError``."""
        return _TRUTH_ADAPTER.validate_json(text)

    @classmethod
    def load(cls, path: Path) -> Truth:
        return cls.from_json(path.read_text(encoding="utf-8"))


_TRUTH_ADAPTER = TypeAdapter(Truth)


def truth_path(path: Path) -> Path:
    """Where the truth of ``path`` (a video or a frame folder) lives: ``OUT.truth.json``."""
    return path.with_suffix(".truth.json")


@dataclass(frozen=True)
class _Item:
    """One item's layout: everything needed to draw its sprite and place it per frame."""

    index: int
    data: LabelData
    readable: bool
    label_module_px: int  # integer module size the label is rendered at
    label_to_sprite: Matrix  # homography from label pixels to sprite pixels
    box_to_sprite: Matrix  # homography from box-top pixels to sprite pixels
    box_size: tuple[int, int]  # width, height of the box top before perspective
    sprite_size: tuple[int, int]  # width, height
    label_span: tuple[int, int]  # sprite columns [x0, x1) the label card covers
    box_span: tuple[int, int]  # sprite columns [x0, x1) the box covers
    top: int  # frame row of the sprite's top edge
    distance: int  # belt travel (px) at which the sprite's left edge reaches column 0
    motion_blur_px: float
    defocus_sigma: float


@dataclass(frozen=True)
class _Layout:
    items: list[_Item]
    px_per_frame: float
    frames: int
    phases: int  # sub-pixel renderings per sprite (see ``Degradation.subpixel_phases``)

    def position(self, frame: int) -> int:
        """Belt travel in whole pixels at ``frame``; one rounding rule for plan and render."""
        return math.floor(frame * self.px_per_frame)

    def phase(self, frame: int) -> int:
        """Which of the sub-pixel renderings of every sprite ``frame`` shows."""
        travel = frame * self.px_per_frame
        return min(self.phases - 1, int((travel - math.floor(travel)) * self.phases))

    def first_frame_at(self, travel: int) -> int:
        """The first frame at which the belt has travelled at least ``travel`` pixels."""
        frame = max(0, math.ceil((travel - 0.5) / self.px_per_frame))
        while frame > 0 and self.position(frame - 1) >= travel:
            frame -= 1
        while self.position(frame) < travel:
            frame += 1
        return frame


def _affine(matrix: cv2.typing.MatLike) -> Matrix:
    return np.vstack([np.asarray(matrix, np.float64), [0.0, 0.0, 1.0]])


def _apply(homography: Matrix, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
    mapped = cv2.perspectiveTransform(points.reshape(-1, 1, 2), homography)
    return np.asarray(mapped, np.float64).reshape(-1, 2)


def _corners(width: float, height: float) -> npt.NDArray[np.float64]:
    return np.array([[0, 0], [width, 0], [width, height], [0, height]], np.float64)


def _label_angle(profile: Degradation, linear: bool, rng: np.random.Generator) -> float:
    if not linear:
        return float(rng.uniform(-profile.rotation_2d, profile.rotation_2d))
    quarter = int(rng.choice(profile.quarter_turns_1d))
    return 90.0 * quarter + float(rng.uniform(-profile.rotation_1d, profile.rotation_1d))


def _keystone(box: npt.NDArray[np.float64], depth: float, rng: np.random.Generator) -> Matrix:
    """A box top seen slightly from one side: the edge farther from the lens looks shorter."""
    if depth <= 0:
        return np.eye(3)
    far = int(rng.integers(4))  # which edge is farther: top, right, bottom, left
    first, second = far, (far + 1) % 4
    along = box[second] - box[first]
    shrink = along * float(rng.uniform(0.3, 1.0)) * depth / 2
    seen = box.copy()
    seen[first] += shrink
    seen[second] -= shrink
    keystone = cv2.getPerspectiveTransform(box.astype(np.float32), seen.astype(np.float32))
    return np.asarray(keystone, np.float64)


def _geometry(
    label: Label, profile: Degradation, rng: np.random.Generator
) -> tuple[Matrix, Matrix, tuple[int, int], tuple[int, int]]:
    """Label→sprite and box→sprite homographies, the box size and the sprite size."""
    module_range = profile.module_px_1d if label.linear else profile.module_px_2d
    scale = float(rng.uniform(*module_range)) / label.module_px
    angle = _label_angle(profile, label.linear, rng)
    height, width = label.image.shape
    rotate = _affine(cv2.getRotationMatrix2D((width / 2, height / 2), angle, scale))
    placed = _apply(rotate, _corners(width, height))
    low, high = placed.min(axis=0), placed.max(axis=0)
    left, right, upper, lower = (int(m) for m in rng.integers(*_BOX_MARGIN, size=4))
    box_w = math.ceil(high[0] - low[0]) + left + right
    box_h = math.ceil(high[1] - low[1]) + upper + lower
    to_box = np.array([[1, 0, left - low[0]], [0, 1, upper - low[1]], [0, 0, 1]]) @ rotate
    box = _corners(box_w, box_h)
    yaw = float(rng.uniform(-profile.box_yaw, profile.box_yaw))
    turn = _affine(cv2.getRotationMatrix2D((box_w / 2, box_h / 2), yaw, 1.0))
    tilt = turn @ _keystone(box, profile.perspective, rng)
    warped = _apply(tilt, box)
    w_low, w_high = warped.min(axis=0), warped.max(axis=0)
    shift = np.array([[1, 0, _SPRITE_PAD - w_low[0]], [0, 1, _SPRITE_PAD - w_low[1]], [0, 0, 1]])
    box_to_sprite = shift @ tilt
    sprite = (
        math.ceil(w_high[0] - w_low[0]) + 2 * _SPRITE_PAD,
        math.ceil(w_high[1] - w_low[1]) + 2 * _SPRITE_PAD,
    )
    return box_to_sprite @ to_box, box_to_sprite, (box_w, box_h), sprite


def _weights(spec: ConveyorSpec) -> tuple[list[Symbology], list[float]]:
    chosen = [(Symbology(name), w) for name, w in spec.mix.items() if w > 0]
    return [s for s, _ in chosen], [w for _, w in chosen]


def _design(
    spec: ConveyorSpec, profile: Degradation, index: int, data: LabelData, rng: np.random.Generator
) -> _Item:
    """One item's look and its place across the belt; its place along it comes later."""
    readable = bool(rng.random() >= profile.occluded)
    module_range = profile.module_px_1d if data.symbology in _LINEAR else profile.module_px_2d
    label = render_label(data, math.ceil(module_range[1]))
    to_sprite, box_to_sprite, box_size, (sw, sh) = _fitting_geometry(
        spec, index, label, profile, rng
    )
    label_x = _apply(to_sprite, _corners(label.image.shape[1], label.image.shape[0]))[:, 0]
    box_x = _apply(box_to_sprite, _corners(*box_size))[:, 0]
    return _Item(
        index=index,
        data=data,
        readable=readable,
        label_module_px=label.module_px,
        label_to_sprite=to_sprite,
        box_to_sprite=box_to_sprite,
        box_size=box_size,
        sprite_size=(sw, sh),
        # One pixel more on the right for the sub-pixel phases, which shift a sprite right.
        label_span=(math.floor(label_x.min()), math.ceil(label_x.max()) + 1),
        box_span=(math.floor(box_x.min()), math.ceil(box_x.max())),
        top=_top(spec, sh, rng),
        distance=0,
        motion_blur_px=float(rng.uniform(*profile.motion_blur_px)),
        defocus_sigma=float(rng.uniform(*profile.defocus_sigma)),
    )


def _layout(spec: ConveyorSpec) -> _Layout:
    """Every item's place and look, drawn from the seed; nothing is rendered but labels."""
    profile = PROFILES[Level(spec.degradation)]
    codes = CodeFactory(spec.seed)
    symbologies, weights = _weights(spec)
    probabilities = np.array(weights) / sum(weights)
    items: list[_Item] = []
    for index in range(spec.items):
        rng = np.random.default_rng([spec.seed, _LAYOUT, index])
        data = codes.label_data(symbologies[int(rng.choice(len(symbologies), p=probabilities))])
        item = _design(spec, profile, index, data, rng)
        if items:  # this box's right edge trails the previous box's left edge by a gap
            ahead = items[-1]
            gap = int(rng.integers(*_GAP))
            distance = ahead.distance - ahead.box_span[0] + item.box_span[1] + gap
        else:  # the first sprite starts just left of the frame
            distance = item.sprite_size[0]
        items.append(dataclasses.replace(item, distance=distance))
    travel = items[-1].distance
    px_per_frame = spec.items_per_second * travel / spec.items / spec.fps
    phases = profile.subpixel_phases
    frames = _Layout(items, px_per_frame, 0, phases).first_frame_at(travel + spec.width)
    layout = _Layout(items, px_per_frame, frames, phases)
    _check_speed(spec, layout)
    return layout


# A long linear label standing upright can outgrow a small frame; fresh draws of angle
# and size nearly always find a pose that fits, and the last try lays it flat and small.
_FIT_ATTEMPTS = 32


def _flat(profile: Degradation) -> Degradation:
    """``profile`` with no turn, tilt or keystone and its smallest modules."""
    return dataclasses.replace(
        profile,
        module_px_2d=(profile.module_px_2d[0],) * 2,
        module_px_1d=(profile.module_px_1d[0],) * 2,
        rotation_2d=0.0,
        rotation_1d=0.0,
        quarter_turns_1d=(0,),
        perspective=0.0,
        box_yaw=0.0,
    )


def _fitting_geometry(
    spec: ConveyorSpec, index: int, label: Label, profile: Degradation, rng: np.random.Generator
) -> tuple[Matrix, Matrix, tuple[int, int], tuple[int, int]]:
    tries = [*[profile] * (_FIT_ATTEMPTS - 1), _flat(profile)]
    for pose in tries:
        geometry = _geometry(label, pose, rng)
        width, height = geometry[3]
        if width <= spec.width and height <= spec.height:
            return geometry
    raise ValueError(
        f"item {index} ({label.image.shape[1]}x{label.image.shape[0]} px label) does not fit "
        f"a {spec.width}x{spec.height} frame even laid flat; use a larger frame"
    )


def _top(spec: ConveyorSpec, sprite_h: int, rng: np.random.Generator) -> int:
    """A row for the sprite that keeps its box on the belt when there is room."""
    rail = round(spec.height * _RAIL_SHARE)
    low = rail - _SPRITE_PAD
    high = spec.height - rail - sprite_h + _SPRITE_PAD
    if high < low:
        low = high = (spec.height - sprite_h) // 2
    low, high = max(0, low), min(spec.height - sprite_h, high)
    return int(rng.integers(low, high + 1))


def _check_speed(spec: ConveyorSpec, layout: _Layout) -> None:
    """Refuse a line so fast for the frame rate that a label is never seen whole twice."""
    for item in layout.items:
        label_width = item.label_span[1] - item.label_span[0]
        whole = (spec.width - label_width) / layout.px_per_frame
        if whole < MIN_FULL_VIEW_FRAMES:
            raise ValueError(
                f"at {spec.items_per_second:g} items/s and {spec.fps:g} fps the belt moves "
                f"{layout.px_per_frame:.0f} px per frame, so item {item.index} is whole in "
                f"view in fewer than {MIN_FULL_VIEW_FRAMES} frames; raise fps or width"
            )


def _truth_item(layout: _Layout, item: _Item, width: int) -> TruthItem:
    x0, x1 = item.label_span
    return TruthItem(
        index=item.index,
        symbology=item.data.symbology.value,
        text=item.data.text,
        gs1=dict(item.data.gs1),
        readable=item.readable,
        first_frame=layout.first_frame_at(item.distance - x1 + 1),
        last_frame=layout.first_frame_at(item.distance - x0 + width) - 1,
    )


def _truth(spec: ConveyorSpec, layout: _Layout) -> Truth:
    items = [_truth_item(layout, item, spec.width) for item in layout.items]
    return Truth(spec=spec, frames=layout.frames, items=items)


def plan(spec: ConveyorSpec) -> Truth:
    """The truth of the video ``spec`` describes, without rendering a frame."""
    return _truth(spec, _layout(spec))


# --- drawing -------------------------------------------------------------------------

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


def _item_label(spec: ConveyorSpec, item: _Item) -> Label:
    label = render_label(item.data, item.label_module_px)
    if item.readable:
        return label
    return occlude(label, np.random.default_rng([spec.seed, _SPRITE, item.index, 1]))


def _warp(image: Image, homography: Matrix, size: tuple[int, int]) -> Image:
    warped = cv2.warpPerspective(
        image, homography, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT
    )
    return _u8(warped)


def _render_sprite(spec: ConveyorSpec, item: _Item, phases: int) -> tuple[_Sprite, ...]:
    """The item's sprite at each sub-pixel phase; texture and label are drawn once."""
    box = _box_texture(*item.box_size, np.random.default_rng([spec.seed, _SPRITE, item.index]))
    label = _u8(cv2.cvtColor(_item_label(spec, item).image, cv2.COLOR_GRAY2BGR))
    return tuple(_compose(item, box, label, phase / phases) for phase in range(phases))


def _u8(image: cv2.typing.MatLike) -> Image:
    return np.asarray(image, np.uint8)


def _compose(item: _Item, box: Image, label: Image, nudge_px: float) -> _Sprite:
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
        self._rail = round(spec.height * _RAIL_SHARE)
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
        rng = np.random.default_rng([spec.seed, _CAMERA])
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


def _frames(spec: ConveyorSpec, layout: _Layout) -> Iterator[Image]:
    """Items enter at the left in layout order and leave at the right in the same order."""
    profile = PROFILES[Level(spec.degradation)]
    belt_blur = sum(profile.motion_blur_px) / 2
    belt = _Belt(spec, belt_blur, np.random.default_rng([spec.seed, _CAMERA, 1]))
    camera = _Camera(spec, profile)
    upcoming = deque(layout.items)
    in_view: deque[tuple[_Item, tuple[_Sprite, ...]]] = deque()
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


def render_frames(spec: ConveyorSpec) -> Iterator[Image]:
    """The video's frames in order, as BGR uint8 arrays of ``spec.height x spec.width``."""
    return _frames(spec, _layout(spec))


_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def write_conveyor(path: Path, spec: ConveyorSpec) -> Truth:
    """Write the video (``.mp4`` or ``.avi``) and its truth beside it; return the truth."""
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"{path}: video must end in {' or '.join(_FOURCC)}")
    layout = _layout(spec)
    size = (spec.width, spec.height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), spec.fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open a {fourcc} video writer here")
    try:
        for frame in _frames(spec, layout):
            writer.write(frame)
    finally:
        writer.release()
    return _write_truth(path, spec, layout)


# PNG at level 1 writes several times faster than the default 3, for files ~10 % larger.
_IMAGE_PARAMS = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 1], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95]}


def write_image_folder(folder: Path, spec: ConveyorSpec, suffix: str = ".png") -> Truth:
    """Write each frame as ``folder/000000.png`` (or ``.jpg``), the truth beside the folder."""
    params = _IMAGE_PARAMS.get(suffix)
    if params is None:
        raise ValueError(f"image suffix must be one of {', '.join(_IMAGE_PARAMS)}, got {suffix!r}")
    folder.mkdir(parents=True, exist_ok=True)
    layout = _layout(spec)
    for index, frame in enumerate(_frames(spec, layout)):
        target = folder / f"{index:06d}{suffix}"
        if not cv2.imwrite(str(target), frame, params):
            raise OSError(f"{target}: OpenCV could not write the frame")
    return _write_truth(folder, spec, layout)


def _write_truth(path: Path, spec: ConveyorSpec, layout: _Layout) -> Truth:
    truth = _truth(spec, layout)
    truth_path(path).write_text(truth.to_json(), encoding="utf-8")
    logger.info("wrote %s: %d items, %d frames", path, len(truth.items), truth.frames)
    return truth
