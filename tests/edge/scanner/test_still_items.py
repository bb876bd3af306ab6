"""Items that stop under the camera: a linear code is confirmed by an independent second read.

A still scene's frames are skipped as unchanged, so its label is decoded in one frame; the
second read that a linear code needs comes from other decoders on that frame's view, and
a first read that they contradict (a misread) is never confirmed.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path

import cv2
import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Reading
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import START, Image, frame, with_check_digit
from tests.edge.photos import EAN13, LINEAR, Code, photo, with_noise

SIZE = (800, 480)
HELD = 8  # frames an item stays under the camera
GAP = 20  # frames of empty belt after it: longer than the tracking window (0.5 s at 30 fps)
# Another EAN-13 whose check digit fits: what a misread that could confirm itself reads.
MISREAD = with_check_digit("893850000099")


def empty_belt(seed: int) -> Image:
    rng = np.random.default_rng(seed)
    texture = cv2.resize(rng.normal(95.0, 12.0, (61, 101)), SIZE, interpolation=cv2.INTER_CUBIC)
    gray = np.clip(texture, 0, 255).astype(np.uint8)
    return np.asarray(cv2.cvtColor(gray, cv2.COLOR_GRAY2BGR), np.uint8)


def held_items(folder: Path, codes: tuple[Code, ...], noise: float) -> None:
    """Each code's label put down under the camera, held for :data:`HELD` frames (with
    fresh sensor noise in each when ``noise``), then taken away."""
    folder.mkdir()
    belt = empty_belt(0)
    frames: list[Image] = [belt] * 3
    for n, code in enumerate(codes):
        picture = photo(code, SIZE, seed=n)
        frames += [
            with_noise(picture, noise, 100 * n + i) if noise else picture for i in range(HELD)
        ]
        frames += [belt] * GAP
    for i, image in enumerate(frames):
        cv2.imwrite(str(folder / f"{i:04d}.png"), image)


def matches(passage: Passage, code: Code) -> bool:
    if code.gtin is not None:
        return passage.gs1 == {"01": code.gtin}
    return passage.text == code.text


@pytest.mark.parametrize("noise", [0.0, 4.0], ids=["identical", "sensor-noise"])
def test_each_linear_symbology_held_still_is_one_read(tmp_path: Path, noise: float) -> None:
    folder = tmp_path / "held"
    held_items(folder, LINEAR, noise)

    with Scanner(PipelineConfig(), str(folder), fps=30.0, start=START, workers=1) as scanner:
        passages = list(scanner)
        stats = scanner.stats

    assert [p.kind for p in passages] == [EventKind.READ] * len(LINEAR)
    for passage, code in zip(passages, LINEAR, strict=True):
        assert matches(passage, code), (code.name, passage.symbology, passage.text)
        assert passage.frames >= HELD - 1  # the still frames saw it too
    assert stats.still >= len(LINEAR) * (HELD - 2)  # the frames were skipped as still
    assert stats.unconfirmed == 0


def first_read(image: Image, config: PipelineConfig) -> Reading:
    return FrameReader(config).read(image)


def misread(reading: Reading, text: str) -> Reading:
    """``reading`` as a decoder that misread every symbol as ``text`` would report it."""

    def wrong(symbol: Symbol) -> Symbol:
        return dataclasses.replace(symbol, text=text)

    sightings = tuple(
        dataclasses.replace(s, symbols=tuple(map(wrong, s.symbols))) for s in reading.sightings
    )
    return dataclasses.replace(reading, sightings=sightings, loose=tuple(map(wrong, reading.loose)))


def hold(pipeline: ScanPipeline, image: Image, reading: Reading, still: int) -> list[Passage]:
    """Frame 0 read as ``reading``, then ``still`` unchanged frames, then the end."""
    passages = pipeline.observe_reading(frame(image, 0), reading)
    for index in range(1, still + 1):
        moment = frame(image, index)
        passages += pipeline.observe_still(index, moment.mono, moment.wall)
    return passages + pipeline.finish()


@pytest.mark.parametrize("locate", [True, False], ids=["located", "whole-frame"])
@pytest.mark.parametrize("still", [6, 0], ids=["held-still", "one-photo"])
def test_a_true_read_is_confirmed_by_a_second_read(locate: bool, still: int) -> None:
    image = photo(EAN13, SIZE, seed=3)
    config = PipelineConfig(locate=locate)
    pipeline = ScanPipeline(config)

    passages = hold(pipeline, image, first_read(image, config), still)

    assert [(p.kind, p.gs1) for p in passages] == [(EventKind.READ, {"01": EAN13.gtin})]
    assert passages[0].frames == still + 1
    assert pipeline.stats.second_reads == 1
    assert (pipeline.stats.unconfirmed, pipeline.stats.disputes) == (0, 0)


@pytest.mark.parametrize("locate", [True, False], ids=["located", "whole-frame"])
@pytest.mark.parametrize("still", [6, 0], ids=["held-still", "one-photo"])
def test_a_misread_is_not_confirmed_when_the_second_read_disagrees(
    locate: bool, still: int
) -> None:
    image = photo(EAN13, SIZE, seed=3)
    config = PipelineConfig(locate=locate)
    pipeline = ScanPipeline(config)

    passages = hold(pipeline, image, misread(first_read(image, config), MISREAD), still)

    assert passages == []
    assert pipeline.stats.unconfirmed == 1
    assert pipeline.stats.disputes == 1
    assert pipeline.stats.second_reads == 0


def test_a_read_no_second_decoder_can_repeat_is_not_confirmed() -> None:
    # The first decoder reports a code where the picture shows none (an empty belt).
    image = empty_belt(1)
    ghost = Symbol("EAN13", "]E0", MISREAD, False, ((200, 150), (400, 150), (400, 250), (200, 250)))
    pipeline = ScanPipeline(PipelineConfig(locate=False))

    passages = hold(pipeline, image, Reading(loose=(ghost,)), 6)

    assert passages == []
    assert pipeline.stats.unconfirmed == 1
    assert (pipeline.stats.second_reads, pipeline.stats.disputes) == (0, 0)


def test_a_moving_label_is_not_read_again_by_second_decoders() -> None:
    # Two frames of a label moving along: the frames confirm it; no second read is made.
    image = photo(EAN13, SIZE, seed=3)
    shifted = np.roll(image, 40, axis=1)
    config = PipelineConfig()
    pipeline = ScanPipeline(config)

    passages = pipeline.observe_reading(frame(image, 0), first_read(image, config))
    passages += pipeline.observe_reading(frame(shifted, 1), first_read(shifted, config))
    passages += pipeline.finish()

    assert [(p.kind, p.frames) for p in passages] == [(EventKind.READ, 2)]
    assert pipeline.stats.second_reads == 0


def test_a_station_reading_with_zbar_is_confirmed_by_zxing_cpp() -> None:
    image = photo(EAN13, SIZE, seed=4)
    config = PipelineConfig(backend="zbar")
    pipeline = ScanPipeline(config)

    passages = hold(pipeline, image, first_read(image, config), 6)

    assert [(p.kind, p.gs1) for p in passages] == [(EventKind.READ, {"01": EAN13.gtin})]
    assert pipeline.stats.second_reads == 1
