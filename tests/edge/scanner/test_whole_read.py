"""A photo the locator misses is decoded whole; a second read never confirms a misread."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame import Frame
from linetrace.edge.line.confirm import Confirmer
from linetrace.edge.line.track import PassageTracker
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Reading
from linetrace.edge.vision.second_read import SecondReader
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import Image, symbol
from tests.edge.photos import CODE128, EAN13, Code, label

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def close_up(code: Code) -> Image:
    """The label so near the lens that its bars fill the picture, with little margin: a
    plain decode of the whole picture reads it, the locator takes it for no code."""
    card = label(code, module_px=6)
    cut = 8 * 6
    return np.ascontiguousarray(card[cut : card.shape[0] - cut, cut : card.shape[1] - cut])


def texts(pipeline: ScanPipeline, frames: list[Frame], *, still: int = 0) -> list[str]:
    passages = []
    for frame in frames:
        passages += pipeline.feed(frame)
    last = frames[-1]
    for step in range(1, still + 1):
        passages += pipeline.observe_still(last.index + step, last.mono + step / 30, last.wall)
    passages += pipeline.finish()
    return [p.text for p in passages if p.kind is EventKind.READ and p.text is not None]


@pytest.mark.parametrize("code", [EAN13, CODE128], ids=lambda code: code.name)
def test_the_locator_misses_a_close_up(code: Code) -> None:
    image = close_up(code)
    reader = FrameReader(PipelineConfig())
    assert reader.read(image).symbols == []
    assert [s.text for s in reader.read_whole(image).symbols] == [code.text or code.content]


@pytest.mark.parametrize("code", [EAN13, CODE128], ids=lambda code: code.name)
def test_a_single_photo_is_decoded_whole(code: Code) -> None:
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    found = texts(pipeline, [Frame(close_up(code), 0, START, 0.0)])
    assert found == [code.text or code.content]
    assert pipeline.stats.second_reads >= 1


@pytest.mark.parametrize("code", [EAN13, CODE128], ids=lambda code: code.name)
def test_a_photo_source_decodes_each_picture_whole(code: Code) -> None:
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    pipeline.photos = True
    blank = np.full((200, 300), 200, np.uint8)
    frames = [Frame(close_up(code), 0, START, 0.0), Frame(blank, 1, START, 10.0)]
    assert texts(pipeline, frames) == [code.text or code.content]


def test_a_still_item_is_decoded_whole_once_and_confirmed() -> None:
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    assert pipeline.feed(Frame(close_up(EAN13), 0, START, 0.0)) == []
    located = pipeline.stats.attempts
    passages = []
    for index in range(1, 6):
        passages += pipeline.observe_still(index, index / 30, START)
    passages += pipeline.finish()
    assert [p.text for p in passages if p.kind is EventKind.READ] == [EAN13.content]
    assert pipeline.stats.attempts == located + 1  # one whole decode for the stop
    assert pipeline.stats.second_reads >= 1


def test_a_moving_line_decodes_no_frame_whole() -> None:
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    blank = np.full((200, 300), 90, np.uint8)
    for index in range(5):
        pipeline.feed(Frame(blank, index, START, index / 30))
    assert pipeline.stats.attempts == 0  # empty frames: nothing located, nothing decoded whole


def _kept(text: str, image: Image) -> Confirmer:
    """A confirmer holding one EAN-13 read of ``text`` made from ``image`` (no region)."""
    confirmer = Confirmer(SecondReader(PipelineConfig()), 0.5, 2)
    height, width = image.shape[:2]
    read = symbol(
        text, width / 2, height / 2, size=min(width, height), symbology="EAN13",
        symbology_id="]E0",
    )  # fmt: skip
    confirmer.keep(0, 0.0, image, Reading(loose=(read,)))
    return confirmer


def _track_of(confirmer: Confirmer, text: str, image: Image) -> int:
    tracker = PassageTracker(0.5)
    height, width = image.shape[:2]
    read = symbol(
        text, width / 2, height / 2, size=min(width, height), symbology="EAN13",
        symbology_id="]E0",
    )  # fmt: skip
    tracker.observe(0, 0.0, START, [read])
    (track,) = tracker.finish()
    return confirmer.at_close(track, 1)


def test_an_agreeing_second_read_confirms() -> None:
    image = label(EAN13, module_px=3)
    confirmer = _kept(EAN13.content, image)
    assert _track_of(confirmer, EAN13.content, image) == 1
    assert confirmer.disputes == 0


def test_a_misread_never_confirms() -> None:
    """A read whose check digit fits but whose code is not the one in the picture: the
    independent looks read the real code, a dispute, and it gets no agreement at all."""
    image = label(EAN13, module_px=3)
    misread = "8938500000997"  # another EAN-13 whose check digit fits
    confirmer = _kept(misread, image)
    assert _track_of(confirmer, misread, image) == 0
    assert confirmer.disputes >= 1


def test_a_still_frame_hands_on_no_disputed_read() -> None:
    image = label(EAN13, module_px=3)
    confirmer = _kept("8938500000997", image)
    assert confirmer.still(1, 1 / 30) == []
    assert confirmer.disputes >= 1
