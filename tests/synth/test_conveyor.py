"""The conveyor generator: deterministic, self-consistent, and truthful about what reads."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp
from pydantic import ValidationError

from linetrace.synth.conveyor import (
    MAX_ITEMS_PER_SECOND,
    SYMBOLOGIES,
    ConveyorSpec,
    Truth,
    plan,
    render_frames,
    truth_path,
    write_conveyor,
    write_image_folder,
)

Frame = npt.NDArray[np.uint8]


def small(items: int, seed: int, degradation: str = "low") -> ConveyorSpec:
    """960x540 keeps every label at full size while a decode costs a third of 720p's."""
    return ConveyorSpec(
        items=items,
        seed=seed,
        degradation=degradation,
        width=960,
        height=540,
        items_per_second=6.0,
    )


# Seed 0 at "low" puts an occluded label among 16 items (checked in the test itself).
LOW = small(16, 0, "low")
NONE = small(12, 4, "none")


@pytest.fixture(scope="module")
def low_frames() -> list[Frame]:
    return list(render_frames(LOW))


def decoded_frames(frames: Iterable[Frame]) -> dict[str, list[int]]:
    """Every text a plain zxing-cpp read finds, with the frames it was found in."""
    seen: dict[str, list[int]] = defaultdict(list)
    for index, frame in enumerate(frames):
        for result in zxingcpp.read_barcodes(frame):
            seen[result.text].append(index)
    return seen


def assert_truthful(truth: Truth, seen: dict[str, list[int]]) -> None:
    """Each readable item reads in its own frames; nothing else ever reads."""
    ranges: dict[str, list[range]] = defaultdict(list)
    for item in truth.items:
        ranges[item.text].append(range(item.first_frame, item.last_frame + 1))
    assert set(seen) <= set(ranges), "decoded text that is not in the truth"
    for text, frames in seen.items():
        for frame in frames:
            assert any(frame in span for span in ranges[text]), (text, frame)
    for item in truth.items:
        hits = [f for f in seen.get(item.text, []) if item.first_frame <= f <= item.last_frame]
        if item.readable:
            assert hits, f"readable item {item.index} ({item.symbology}) never decoded"
            continue
        # Units of one product share an EAN-13, so only frames with no readable twin in
        # view can show that the occluded label itself stayed unread.
        twins = [
            range(other.first_frame, other.last_frame + 1)
            for other in truth.items
            if other.readable and other.text == item.text
        ]
        alone = [f for f in hits if not any(f in span for span in twins)]
        assert not alone, f"occluded item {item.index} decoded in frames {alone}"


def test_low_footage_reads_exactly_as_its_truth_says(low_frames: list[Frame]) -> None:
    truth = plan(LOW)
    assert len(low_frames) == truth.frames
    assert any(not item.readable for item in truth.items), "pick a seed with an occlusion"
    assert {item.symbology for item in truth.items if item.readable} == set(SYMBOLOGIES)
    assert_truthful(truth, decoded_frames(low_frames))


def test_clean_footage_reads_every_item() -> None:
    truth = plan(NONE)
    assert all(item.readable for item in truth.items)
    assert_truthful(truth, decoded_frames(render_frames(NONE)))


def test_occluded_labels_never_read_even_when_footage_is_hard() -> None:
    spec = small(14, 2, "high")
    truth = plan(spec)
    readable = {item.text for item in truth.items if item.readable}
    hidden = {item.text for item in truth.items if not item.readable} - readable
    assert hidden, "pick a seed with an occlusion that has no readable twin"
    seen = decoded_frames(render_frames(spec))
    assert not hidden & set(seen)


def test_same_seed_same_frames_other_seed_other_frames(low_frames: list[Frame]) -> None:
    again = render_frames(LOW)
    for index, (first, second) in enumerate(zip(low_frames, again, strict=True)):
        assert first.tobytes() == second.tobytes(), index
    other = dataclasses.replace(LOW, seed=LOW.seed + 1)
    assert plan(other).items != plan(LOW).items
    middle = len(low_frames) // 2
    other_frame = next(itertools.islice(render_frames(other), middle, None))
    assert not np.array_equal(other_frame, low_frames[middle])


def test_frames_have_the_spec_shape(low_frames: list[Frame]) -> None:
    assert {(f.shape, f.dtype) for f in low_frames} == {((540, 960, 3), np.dtype(np.uint8))}


def test_truth_is_consistent(low_frames: list[Frame]) -> None:
    truth = plan(LOW)
    assert [item.index for item in truth.items] == list(range(LOW.items))
    firsts = [item.first_frame for item in truth.items]
    assert firsts == sorted(firsts), "items enter the view in order"
    for item in truth.items:
        assert 0 <= item.first_frame < item.last_frame < truth.frames
        assert item.last_frame - item.first_frame >= 5, "a label must be seen in many frames"
        assert item.symbology in SYMBOLOGIES
        assert item.gs1


def test_nothing_is_in_view_outside_the_items_spans(low_frames: list[Frame]) -> None:
    truth = plan(LOW)
    covered = set().union(*(range(i.first_frame, i.last_frame + 1) for i in truth.items))
    empty = [f for f in range(truth.frames) if f not in covered]
    assert empty, "frame 0 shows the empty belt"
    # An empty frame is belt and rails only: no white label paper anywhere.
    for index in empty:
        assert (low_frames[index].min(axis=2) > 200).sum() == 0, index


def test_truth_round_trips_through_json() -> None:
    truth = plan(LOW)
    assert Truth.from_json(truth.to_json()) == truth
    document = json.loads(truth.to_json())
    assert document["items"][0].keys() == {
        "index",
        "symbology",
        "text",
        "gs1",
        "readable",
        "first_frame",
        "last_frame",
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda d: d["spec"].update(items=0), "items must be at least 1"),
        (lambda d: d["spec"].update(colour="red"), "colour"),
        (lambda d: d["items"][0].update(first_frame="soon"), "first_frame"),
        (lambda d: d["items"][0].update(last_frame=10**6), "outside the video"),
        (lambda d: d["items"].reverse(), "has index"),
        (lambda d: d["items"].pop(), "truth lists"),
    ],
)
def test_a_broken_truth_file_is_refused_with_the_reason(
    edit: Callable[[dict[str, Any]], object], message: str
) -> None:
    document = json.loads(plan(LOW).to_json())
    edit(document)
    with pytest.raises(ValidationError, match=message):
        Truth.from_json(json.dumps(document))


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"items": 0}, "items must be at least 1"),
        ({"fps": 0}, "fps"),
        ({"width": 100}, "frame must be at least"),
        ({"items_per_second": MAX_ITEMS_PER_SECOND + 1}, "items_per_second"),
        ({"seed": -1}, "seed"),
        ({"degradation": "awful"}, "degradation must be one of"),
        ({"mix": {"pdf417": 1.0}}, "unknown symbologies in mix: pdf417"),
        ({"mix": {"ean-13": 0.0}}, "at least one positive weight"),
        ({"mix": {"ean-13": float("nan")}}, "finite"),
    ],
)
def test_a_bad_spec_is_refused_with_the_reason(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ConveyorSpec(**changes)  # type: ignore[arg-type]


def test_mix_chooses_the_symbologies() -> None:
    truth = plan(
        ConveyorSpec(items=40, mix={"ean-13": 3.0, "gs1-128-sscc": 1.0, "gs1-datamatrix": 0})
    )
    counts = {s: sum(i.symbology == s for i in truth.items) for s in SYMBOLOGIES}
    assert counts["gs1-datamatrix"] == counts["gs1-qr-digital-link"] == 0
    assert counts["ean-13"] > counts["gs1-128-sscc"] > 0


def test_line_speed_sets_the_item_rate() -> None:
    for rate in (1.0, 5.0, MAX_ITEMS_PER_SECOND):
        spec = ConveyorSpec(items=60, items_per_second=rate, seed=3)
        truth = plan(spec)
        entries = [item.first_frame for item in truth.items]
        measured = (len(entries) - 1) / ((entries[-1] - entries[0]) / spec.fps)
        assert measured == pytest.approx(rate, rel=0.2)
        in_view = min(item.last_frame - item.first_frame + 1 for item in truth.items)
        assert in_view >= 5, "even at full speed a label stays in view several frames"


def test_a_line_too_fast_for_the_frame_rate_is_refused() -> None:
    with pytest.raises(ValueError, match="raise fps or width"):
        plan(
            ConveyorSpec(
                items=20, items_per_second=MAX_ITEMS_PER_SECOND, fps=10, width=640, height=480
            )
        )


def test_a_frame_too_small_for_a_label_is_refused() -> None:
    spec = ConveyorSpec(items=4, width=320, height=240, mix={"gs1-128-sscc": 1.0})
    with pytest.raises(ValueError, match="does not fit"):
        plan(spec)


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_video_file_holds_the_frames_and_its_truth(tmp_path: Path, suffix: str) -> None:
    spec = small(4, 7)
    path = tmp_path / f"line{suffix}"
    truth = write_conveyor(path, spec)
    assert truth == plan(spec)
    assert truth_path(path) == tmp_path / "line.truth.json"
    assert Truth.load(truth_path(path)) == truth
    capture = cv2.VideoCapture(str(path))
    try:
        assert capture.get(cv2.CAP_PROP_FPS) == pytest.approx(spec.fps)
        frames: list[Frame] = []
        while True:
            ok, frame = capture.read()
            if not ok:
                break
            frames.append(np.asarray(frame, np.uint8))
    finally:
        capture.release()
    assert len(frames) == truth.frames
    assert frames[0].shape == (spec.height, spec.width, 3)
    assert_truthful(truth, decoded_frames(frames))


def test_same_seed_writes_the_same_bytes(tmp_path: Path) -> None:
    spec = small(2, 11)
    first, second = tmp_path / "a.mp4", tmp_path / "b.mp4"
    write_conveyor(first, spec)
    write_conveyor(second, spec)
    assert first.read_bytes() == second.read_bytes()
    assert truth_path(first).read_bytes() == truth_path(second).read_bytes()


def test_image_folder_holds_lossless_frames(tmp_path: Path) -> None:
    spec = small(2, 5)
    folder = tmp_path / "frames"
    truth = write_image_folder(folder, spec)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == [f"{i:06d}.png" for i in range(truth.frames)]
    assert truth_path(folder) == tmp_path / "frames.truth.json"
    assert Truth.load(truth_path(folder)) == truth
    for file, frame in zip(files, render_frames(spec), strict=True):
        stored = cv2.imread(str(file))
        assert stored is not None
        assert np.array_equal(stored, frame)


def test_unknown_output_kinds_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="video must end in"):
        write_conveyor(tmp_path / "line.mkv", LOW)
    with pytest.raises(ValueError, match="image suffix"):
        write_image_folder(tmp_path / "frames", LOW, ".gif")


def test_specs_compare_and_hash_by_value() -> None:
    reordered = dict(reversed(list(LOW.mix.items())))
    same = dataclasses.replace(LOW, mix=reordered)
    assert same == LOW
    assert hash(same) == hash(LOW)
    assert {LOW: "cached"}[same] == "cached"
