"""What a conveyor video shows and what its truth file says: the spec and the truth."""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

import numpy as np
import numpy.typing as npt
from pydantic import ConfigDict, TypeAdapter

from linetrace.synth.kinds import Level, Symbology

__all__ = [
    "CAMERA_STREAM",
    "DEGRADATIONS",
    "LAYOUT_STREAM",
    "MAX_FPS",
    "MAX_ITEMS_PER_SECOND",
    "MIN_FULL_VIEW_FRAMES",
    "MIN_HEIGHT",
    "MIN_WIDTH",
    "RAIL_SHARE",
    "SPRITE_PAD",
    "SPRITE_STREAM",
    "SYMBOLOGIES",
    "ConveyorSpec",
    "Image",
    "Matrix",
    "Truth",
    "TruthItem",
    "truth_path",
]

Image = npt.NDArray[np.uint8]

Matrix = npt.NDArray[np.float64]

SYMBOLOGIES: tuple[str, ...] = tuple(s.value for s in Symbology)

DEGRADATIONS: tuple[str, ...] = tuple(level.value for level in Level)

# The fastest packing lines a single camera station serves run at about 20 items/s.
MAX_ITEMS_PER_SECOND = 20.0

# A tracker needs each label whole in a few frames to tell one passage from two.
MIN_FULL_VIEW_FRAMES = 2
# The smallest frame that still fits a box with its label and shadow.
MIN_WIDTH, MIN_HEIGHT = 320, 240

# Area-scan cameras on packing lines top out near this rate at 720p.
MAX_FPS = 240.0

# Belt and box geometry, in pixels of a 720p-class camera looking straight down.
RAIL_SHARE = 0.06  # side rails: a strip of steel at the top and bottom of the frame

SPRITE_PAD = 32  # room around a box for its shadow and motion blur

# Independent random streams: the layout, each sprite's texture and the per-frame camera
# effects draw from their own generators, so drawing one never shifts another.
LAYOUT_STREAM, SPRITE_STREAM, CAMERA_STREAM = 1, 2, 3


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
