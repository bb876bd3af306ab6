"""A linear read confirmed by frames but doubted by its own bands (a misread that repeats,
as print gain makes of a worn EAN-13) is never carried, never reported and never outvotes
the code it hides."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.images import grayscale
from linetrace.edge.line.confirm import Confirmer
from linetrace.edge.line.regions import RegionTracker
from linetrace.edge.line.track import PassageTracker
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.decode import Symbol, ZxingDecoder
from linetrace.edge.vision.locate import Region
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Hint, Reading, Sighting
from linetrace.edge.vision.second_read import SecondReader
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import START, Image, symbol, with_check_digit
from tests.edge.photos import EAN8, EAN13, GS1_128, photo

FPS = 30.0
# Another EAN-13 whose check digit fits: what a misread of ``EAN13`` could report.
OTHER_GTIN13 = with_check_digit("094837842362")


def first_read(image: Image) -> Symbol:
    found = ZxingDecoder(("EAN13", "EAN8", "Code128")).decode(grayscale(image))
    assert len(found) == 1
    return found[0]


def confirmer() -> Confirmer:
    return Confirmer(SecondReader(PipelineConfig()), 0.5, 2)


def around(read: Symbol) -> Region:
    """A located region with bars at ``read``'s place."""
    xs = [x for x, _ in read.corners]
    ys = [y for _, y in read.corners]
    size = (float(max(xs) - min(xs)), float(max(ys) - min(ys)))
    return Region(read.centre, size, 0.0, 0.0, 0.9, 200.0, False)


def test_a_read_whose_bands_read_another_code_is_doubted() -> None:
    image = photo(EAN13, (800, 600), seed=3)
    read = first_read(image)
    misread = dataclasses.replace(read, text=OTHER_GTIN13)
    checker = confirmer()
    assert checker.doubts(grayscale(image), misread, around(read))
    assert checker.disputes == 1
    assert not checker.doubts(grayscale(image), read, around(read))


def test_a_shorter_code_in_its_bands_is_no_doubt() -> None:
    """Half an EAN-13's bars can read as an EAN-8: a fragment, not another code. Here the
    view holds an EAN-8 outright, and a read of it as an EAN-13 is still not doubted."""
    image = photo(EAN8, (800, 600), seed=3)
    eight = first_read(image)
    as_thirteen = dataclasses.replace(eight, symbology="EAN13", text=EAN13.content)
    assert not confirmer().doubts(grayscale(image), as_thirteen, around(eight))


def test_a_code_128_is_not_asked() -> None:
    """Its mod-103 check catches every single wrong character: no bands are read."""
    image = photo(GS1_128, (800, 600), seed=3)
    read = first_read(image)
    other = dataclasses.replace(read, text=read.text[:-1] + "9")
    assert not confirmer().doubts(grayscale(image), other, around(read))


def ean(text: str, x: float) -> Symbol:
    return symbol(text, x, 200, size=60, symbology="EAN13", symbology_id="]E0")


def bars(x: float) -> Region:
    return Region((x, 200.0), (60.0, 60.0), 0.0, 0.0, 0.9, 200.0, False)


@pytest.mark.parametrize("doubted", [True, False])
def test_a_doubted_code_is_asked_once_and_never_carried(doubted: bool) -> None:
    asked: list[str] = []

    def doubts(gray: Image, read: Symbol, region: Region) -> bool:
        asked.append(read.text)
        return doubted

    tracker = RegionTracker(0.5, 2, doubts=doubts)
    tracker.belt = (30.0 * FPS, 0.0)
    plain = np.full((400, 1200), 128, np.uint8)
    for index in range(4):
        mono = index / FPS
        x = 100 + 30 * index
        sightings = () if tracker.hints(mono) else (Sighting(bars(x), (ean(EAN13.content, x),)),)
        when = START + timedelta(seconds=mono)
        tracker.observe(index, mono, when, sightings or (Sighting(bars(x)),), plain)
        if index == 1:
            assert [s.text for s in tracker.doubted_now] == ([EAN13.content] if doubted else [])
    assert asked == [EAN13.content]  # once, when its second decode would confirm it
    # Confirmed, it is carried (skipped); doubted, it is read again another way.
    assert [hint.reread for hint in tracker.hints(4 / FPS)] == [doubted]


def test_a_doubted_passage_never_outvotes_the_code_it_hides() -> None:
    """Two items of one code side by side; only the one the doubted read joined is doubted,
    and the real code, read less often at its spot, is not outvoted by it."""
    tracker = PassageTracker(0.5)
    closed = []
    for index in range(6):
        mono = index / FPS
        x = 100 + 4 * index
        reads = [ean(OTHER_GTIN13 if index < 4 else EAN13.content, x), ean(OTHER_GTIN13, 600)]
        closed += tracker.observe(index, mono, START + timedelta(seconds=mono), reads)
        if index == 1:
            tracker.doubt(reads[0], index)
    closed += tracker.finish()
    at_100 = [t for t in closed if t.first_centre[0] < 300]
    by_text = {t.symbol.text: t for t in at_100}
    assert by_text[OTHER_GTIN13].doubted
    assert not by_text[EAN13.content].outvoted  # 2 frames against the doubted 4
    (other_item,) = [t for t in closed if t.first_centre[0] >= 300]
    assert not other_item.doubted


@pytest.mark.parametrize("misread", [True, False], ids=["misread", "real code"])
def test_the_pipeline_drops_a_repeated_misread_its_bands_deny(misread: bool) -> None:
    """The frame reader reports one EAN-13 in four frames of a still label; where that is
    not the code printed, its bands say so and nothing is reported."""
    image = photo(EAN13, (800, 600), seed=3)
    real = first_read(image)
    read = dataclasses.replace(real, text=OTHER_GTIN13) if misread else real
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    passages = []
    for index in range(4):
        mono = index / FPS
        frame = Frame(image, index, START + timedelta(seconds=mono), mono)
        reading = Reading(sightings=(Sighting(around(real), (read,)),))
        passages += pipeline.observe_reading(frame, reading)
    passages += pipeline.finish()
    reported = [p.text for p in passages if p.kind is EventKind.READ]
    assert reported == ([] if misread else [real.text])
    assert pipeline.stats.misreads == int(misread)


@pytest.mark.parametrize("reread", [False, True])
def test_a_doubted_label_is_read_again_not_carried(reread: bool) -> None:
    image = photo(EAN13, (800, 600), seed=3)
    reader = FrameReader(PipelineConfig())
    (located,) = [s for s in reader.read(image).sightings if s.symbols]
    hint = Hint(7, located.region, reread=reread)
    (again,) = [s for s in reader.read(image, [hint]).sightings if s.symbols or s.carried]
    if reread:
        assert again.carried is None
        assert [s.text for s in again.symbols] == [EAN13.content]
    else:
        assert again.carried == 7


@pytest.mark.parametrize("reread", [False, True])
def test_a_reread_tries_the_plain_way_last(reread: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plain try misread the label; read again, the enhanced tries come first."""
    image = photo(EAN13, (800, 600), seed=3)
    reader = FrameReader(PipelineConfig())
    (located,) = [s for s in reader.read(image).sightings if s.symbols]
    plain_tries: list[int] = []
    plain = FrameReader._bars_plain

    def counted(self: FrameReader, work: Image, region: Region) -> Iterator[object]:
        plain_tries.append(1)
        return plain(self, work, region)

    monkeypatch.setattr(FrameReader, "_bars_plain", counted)
    reading = reader.read(image, [Hint(7, located.region, reread=True)] if reread else [])
    assert EAN13.content in [s.text for s in reading.symbols]
    assert plain_tries == ([] if reread else [1])
