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

import logging
from collections.abc import Callable, Iterator
from pathlib import Path

import cv2

from linetrace.synth.layout import Layout, lay_out, truth_of
from linetrace.synth.render import frames
from linetrace.synth.spec import (
    DEGRADATIONS,
    MAX_FPS,
    MAX_ITEMS_PER_SECOND,
    SYMBOLOGIES,
    ConveyorSpec,
    Image,
    Truth,
    TruthItem,
    truth_path,
)

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


def plan(spec: ConveyorSpec) -> Truth:
    """The truth of the video ``spec`` describes, without rendering a frame."""
    return truth_of(spec, lay_out(spec))


def render_frames(spec: ConveyorSpec) -> Iterator[Image]:
    """The video's frames in order, as BGR uint8 arrays of ``spec.height x spec.width``."""
    return frames(spec, lay_out(spec))


_FOURCC = {".mp4": "mp4v", ".avi": "MJPG"}


def write_conveyor(
    path: Path, spec: ConveyorSpec, *, on_frame: Callable[[], None] | None = None
) -> Truth:
    """Write the video (``.mp4`` or ``.avi``) and its truth beside it; return the truth.

    ``on_frame`` is called after each frame written (the CLI's progress bar)."""
    fourcc = _FOURCC.get(path.suffix.lower())
    if fourcc is None:
        raise ValueError(f"{path}: video must end in {' or '.join(_FOURCC)}")
    layout = lay_out(spec)
    size = (spec.width, spec.height)
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*fourcc), spec.fps, size)
    if not writer.isOpened():
        raise OSError(f"{path}: OpenCV cannot open a {fourcc} video writer here")
    try:
        for frame in frames(spec, layout):
            writer.write(frame)
            if on_frame is not None:
                on_frame()
    finally:
        writer.release()
    return _write_truth(path, spec, layout)


# PNG at level 1 writes several times faster than the default 3, for files ~10 % larger.
_IMAGE_PARAMS = {".png": [cv2.IMWRITE_PNG_COMPRESSION, 1], ".jpg": [cv2.IMWRITE_JPEG_QUALITY, 95]}


def write_image_folder(
    folder: Path,
    spec: ConveyorSpec,
    suffix: str = ".png",
    *,
    on_frame: Callable[[], None] | None = None,
) -> Truth:
    """Write each frame as ``folder/000000.png`` (or ``.jpg``), the truth beside the folder;
    ``on_frame`` is called after each one."""
    params = _IMAGE_PARAMS.get(suffix)
    if params is None:
        raise ValueError(f"image suffix must be one of {', '.join(_IMAGE_PARAMS)}, got {suffix!r}")
    folder.mkdir(parents=True, exist_ok=True)
    layout = lay_out(spec)
    for index, frame in enumerate(frames(spec, layout)):
        target = folder / f"{index:06d}{suffix}"
        if not cv2.imwrite(str(target), frame, params):
            raise OSError(f"{target}: OpenCV could not write the frame")
        if on_frame is not None:
            on_frame()
    return _write_truth(folder, spec, layout)


def _write_truth(path: Path, spec: ConveyorSpec, layout: Layout) -> Truth:
    truth = truth_of(spec, layout)
    truth_path(path).write_text(truth.to_json(), encoding="utf-8")
    logger.info("wrote %s: %d items, %d frames", path, len(truth.items), truth.frames)
    return truth
