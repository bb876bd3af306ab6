"""Laying out a conveyor run without drawing it: each item's codes, size, angle and place."""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass

import cv2
import numpy as np
import numpy.typing as npt

from linetrace.synth.codes import CodeFactory, LabelData
from linetrace.synth.degrade import (
    PROFILES,
    Degradation,
)
from linetrace.synth.kinds import Level, Symbology
from linetrace.synth.labels import Label, render_label
from linetrace.synth.spec import (
    LAYOUT_STREAM,
    MIN_FULL_VIEW_FRAMES,
    RAIL_SHARE,
    SPRITE_PAD,
    ConveyorSpec,
    Matrix,
    Truth,
    TruthItem,
)

__all__ = ["Item", "Layout", "lay_out", "truth_of"]

_BOX_MARGIN = (12, 40)  # cardboard around the label on each side

# Free belt between two boxes: never touching, and wider than a shadow reaches (offset
# plus three sigma, 17 px), so no box darkens the next.
_GAP = (24, 120)

_LINEAR = frozenset({Symbology.GS1_128_SSCC, Symbology.EAN_13})

# A long linear label standing upright can outgrow a small frame; fresh draws of angle
# and size nearly always find a pose that fits, and the last try lays it flat and small.
_FIT_ATTEMPTS = 32


@dataclass(frozen=True)
class Item:
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
class Layout:
    items: list[Item]
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
    shift = np.array([[1, 0, SPRITE_PAD - w_low[0]], [0, 1, SPRITE_PAD - w_low[1]], [0, 0, 1]])
    box_to_sprite = shift @ tilt
    sprite = (
        math.ceil(w_high[0] - w_low[0]) + 2 * SPRITE_PAD,
        math.ceil(w_high[1] - w_low[1]) + 2 * SPRITE_PAD,
    )
    return box_to_sprite @ to_box, box_to_sprite, (box_w, box_h), sprite


def _weights(spec: ConveyorSpec) -> tuple[list[Symbology], list[float]]:
    chosen = [(Symbology(name), w) for name, w in spec.mix.items() if w > 0]
    return [s for s, _ in chosen], [w for _, w in chosen]


def _design(
    spec: ConveyorSpec, profile: Degradation, index: int, data: LabelData, rng: np.random.Generator
) -> Item:
    """One item's look and its place across the belt; its place along it comes later."""
    readable = bool(rng.random() >= profile.occluded)
    module_range = profile.module_px_1d if data.symbology in _LINEAR else profile.module_px_2d
    label = render_label(data, math.ceil(module_range[1]))
    to_sprite, box_to_sprite, box_size, (sw, sh) = _fitting_geometry(
        spec, index, label, profile, rng
    )
    label_x = _apply(to_sprite, _corners(label.image.shape[1], label.image.shape[0]))[:, 0]
    box_x = _apply(box_to_sprite, _corners(*box_size))[:, 0]
    return Item(
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


def lay_out(spec: ConveyorSpec, codes: CodeFactory | None = None) -> Layout:
    """Every item's place and look, drawn from the seed; nothing is rendered but labels.

    ``codes``: the label data to draw from (default: a fresh factory on the seed); the demo
    passes one that lives across videos, so serials keep rising from one to the next.
    """
    profile = PROFILES[Level(spec.degradation)]
    codes = codes if codes is not None else CodeFactory(spec.seed)
    symbologies, weights = _weights(spec)
    probabilities = np.array(weights) / sum(weights)
    items: list[Item] = []
    for index in range(spec.items):
        rng = np.random.default_rng([spec.seed, LAYOUT_STREAM, index])
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
    frames = Layout(items, px_per_frame, 0, phases).first_frame_at(travel + spec.width)
    layout = Layout(items, px_per_frame, frames, phases)
    _check_speed(spec, layout)
    return layout


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
    rail = round(spec.height * RAIL_SHARE)
    low = rail - SPRITE_PAD
    high = spec.height - rail - sprite_h + SPRITE_PAD
    if high < low:
        low = high = (spec.height - sprite_h) // 2
    low, high = max(0, low), min(spec.height - sprite_h, high)
    return int(rng.integers(low, high + 1))


def _check_speed(spec: ConveyorSpec, layout: Layout) -> None:
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


def _truth_item(layout: Layout, item: Item, width: int) -> TruthItem:
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


def truth_of(spec: ConveyorSpec, layout: Layout) -> Truth:
    items = [_truth_item(layout, item, spec.width) for item in layout.items]
    return Truth(spec=spec, frames=layout.frames, items=items)
