"""Synthetic conveyor frames fed as a live source would deliver them: with pauses, lost
frames and a wall clock that steps; and a score of the passages by frame, not by time."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import cv2
import numpy as np
import numpy.typing as npt

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.frame_source import FrameSource
from linetrace.edge.line.passage import Passage
from linetrace.synth.conveyor import ConveyorSpec, Truth, plan, render_frames

Image = npt.NDArray[np.uint8]

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# Six EAN-13 items, all readable, two codes repeated on neighbouring items (0 and 1; 3, 4
# and 5): only their place tells two items of one code apart.
SPEC = ConveyorSpec(
    items=6, fps=30.0, width=640, height=360, items_per_second=2.0, seed=5,
    mix={"ean-13": 1.0},
)  # fmt: skip
# Where the source pauses (before these frames): just after the first item's first reads
# (a camera settling at start), and while two items of one code are in view.
PAUSES = {14: 0.7, 74: 0.7}


@functools.cache
def grey_frames(spec: ConveyorSpec = SPEC) -> tuple[Image, ...]:
    grey = (cv2.cvtColor(image, cv2.COLOR_BGR2GRAY) for image in render_frames(spec))
    return tuple(np.asarray(image, np.uint8) for image in grey)


def truth(spec: ConveyorSpec = SPEC) -> Truth:
    return plan(spec)


def stepped_wall(steps: dict[int, float], fps: float = SPEC.fps) -> Callable[[int], datetime]:
    """A wall clock by frame: on time, stepped by ``steps[i]`` seconds from frame ``i`` on
    (the steps add up, as a time sync's do)."""

    def wall(index: int) -> datetime:
        offset = sum(step for at, step in steps.items() if index >= at)
        return START + timedelta(seconds=index / fps + offset)

    return wall


@dataclass(frozen=True)
class Timing:
    """How frames are stamped: pauses before some frames (the source held them back),
    frames lost (their index skipped, their time passed) and a stepped wall clock."""

    pauses: dict[int, float] = field(default_factory=dict)
    lost: frozenset[int] = frozenset()
    wall_steps: dict[int, float] = field(default_factory=dict)

    def frames(self, images: tuple[Image, ...], fps: float = SPEC.fps) -> Iterator[Frame]:
        """Frames with media-like times: no real waiting, for the pipeline alone."""
        wall, paused = stepped_wall(self.wall_steps, fps), 0.0
        for index, image in enumerate(images):
            paused += self.pauses.get(index, 0.0)
            if index not in self.lost:
                yield Frame(image, index, wall(index), index / fps + paused)


@dataclass(frozen=True)
class PausingConveyor:
    """A picklable opener of :class:`PausingSource` (it crosses into the capture process)."""

    timing: Timing
    spec: ConveyorSpec = SPEC

    def __call__(self, first_index: int) -> FrameSource:
        return PausingSource(self.spec, self.timing, first_index)


class PausingSource(FrameSource):
    """The conveyor delivered as a live capture delivers it: each frame stamped with
    ``time.monotonic()`` when it arrives, the source really pausing before some frames,
    the wall clock the timing's (stepped) one."""

    def __init__(self, spec: ConveyorSpec, timing: Timing, first_index: int) -> None:
        super().__init__(f"pausing conveyor seed {spec.seed}", spec.fps)
        self._spec, self._timing, self._first = spec, timing, first_index

    def _generate(self) -> Iterator[Frame]:
        wall = stepped_wall(self._timing.wall_steps, self._spec.fps)
        interval = 1.0 / self._spec.fps
        for index, image in enumerate(grey_frames(self._spec)):
            if index < self._first:
                continue
            time.sleep(self._timing.pauses.get(index, interval))  # the source's own pace
            yield Frame(image, index, wall(index), time.monotonic())


@dataclass
class ByFrame:
    """Read passages matched to the truth by the frame they were first read in."""

    read: list[int] = field(default_factory=list)  # truth indices, once each
    duplicates: list[int] = field(default_factory=list)
    false_reads: list[str] = field(default_factory=list)
    noreads: int = 0


def score_by_frame(truth: Truth, passages: list[Passage]) -> ByFrame:
    """The wall clock may have stepped, so items are told by frame index, not time."""
    result = ByFrame()
    for passage in passages:
        if passage.kind is EventKind.NOREAD:
            result.noreads += 1
            continue
        frame = passage.first_frame if passage.first_frame is not None else -1
        same = [
            item
            for item in truth.items
            if item.first_frame <= frame <= item.last_frame and item.text == passage.text
        ]
        fresh = [item.index for item in same if item.index not in result.read]
        if fresh:
            result.read.append(fresh[0])
        elif same:
            result.duplicates.append(same[0].index)
        else:
            result.false_reads.append(passage.text or "")
    return result
