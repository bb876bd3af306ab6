"""Per-row reading of linear symbols: bands that read the code confirm it, a band that reads
another code disputes it, and a misread never confirms itself."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import numpy as np
import pytest

from linetrace.edge.camera.images import grayscale
from linetrace.edge.line.confirm import ROW_AGREEMENT, Confirmer, same_code
from linetrace.edge.line.track import Track
from linetrace.edge.vision.decode import Symbol, ZxingDecoder
from linetrace.edge.vision.locate import Region
from linetrace.edge.vision.reading import Reading, Sighting
from linetrace.edge.vision.row_vote import RowVoter
from linetrace.edge.vision.second_read import SecondReader, View, cut_view
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import Image, with_check_digit
from tests.edge.photos import EAN8, EAN13, GS1_128, UPCA, Code, label, photo

# Another EAN-13 whose check digit fits: what a misread of ``EAN13`` could report.
OTHER_GTIN13 = with_check_digit("893850000099")
WHEN = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def first_read(image: Image) -> Symbol:
    """The code in ``image`` as the frame reader's decoder reports it."""
    found = ZxingDecoder(("EAN13", "UPCA", "EAN8", "Code128")).decode(grayscale(image))
    assert len(found) == 1
    return found[0]


def misread(symbol: Symbol) -> Symbol:
    """``symbol`` reported as another code whose check digit fits."""
    return dataclasses.replace(symbol, text=OTHER_GTIN13)


@pytest.mark.parametrize("code", [EAN13, UPCA, GS1_128], ids=lambda c: c.name)
def test_rows_that_read_the_code_confirm_it(code: Code) -> None:
    image = photo(code, (800, 600), seed=3)
    symbol = first_read(image)
    vote = RowVoter().vote(cut_view(image, symbol, None), symbol, same_code)
    assert vote.dispute == 0
    assert vote.agree >= ROW_AGREEMENT
    assert vote.confirms(ROW_AGREEMENT)


def test_a_row_that_reads_another_code_disputes() -> None:
    """A label whose lower half carries another EAN-13, bar for bar in line with the first."""
    top, bottom = label(EAN13), label(dataclasses.replace(EAN13, content=OTHER_GTIN13))
    half = top.shape[0] // 2
    stacked = np.vstack([top[:half], bottom[half:]])
    decoder = ZxingDecoder(("EAN13",))
    symbol = next(s for s in decoder.decode(stacked) if s.text == EAN13.content)
    vote = RowVoter().vote(View(stacked, None), symbol, same_code)
    assert vote.agree >= 1
    assert vote.dispute >= 1
    assert not vote.confirms(ROW_AGREEMENT)


def test_a_misread_never_confirms() -> None:
    image = photo(EAN13, (800, 600), seed=5)
    wrong = misread(first_read(image))
    vote = RowVoter().vote(cut_view(image, wrong, None), wrong, same_code)
    assert vote.agree == 0
    assert not vote.confirms(ROW_AGREEMENT)


def moving_close(symbol: Symbol, image: Image) -> tuple[int, Confirmer]:
    """A passage read in frame 5 only, the next read frame (6) seeing nothing: the agreeing
    reads it gets at close, and the confirmer."""
    confirmer = Confirmer(SecondReader(PipelineConfig()), 0.5, 2)
    confirmer.keep(5, 5 / 30, image, Reading(loose=(symbol,)))
    confirmer.keep(6, 6 / 30, image, Reading())
    track = Track.start(symbol, 5, 5 / 30, WHEN)
    return confirmer.at_close(track, 1), confirmer


def test_a_passage_read_in_one_frame_of_a_moving_line_is_confirmed_by_its_rows() -> None:
    image = photo(EAN13, (800, 600), seed=3)
    given, confirmer = moving_close(first_read(image), image)
    assert given == 1
    assert confirmer.disputes == 0


def test_a_misread_in_one_frame_of_a_moving_line_stays_unconfirmed() -> None:
    image = photo(EAN13, (800, 600), seed=3)
    given, confirmer = moving_close(misread(first_read(image)), image)
    assert given == 0
    assert confirmer.disputes == 1


def test_a_passage_read_again_later_is_not_confirmed_by_rows() -> None:
    """Only a passage decoded in its first frame alone is voted on by rows."""
    image = photo(EAN13, (800, 600), seed=3)
    symbol = first_read(image)
    confirmer = Confirmer(SecondReader(PipelineConfig()), 0.5, 3)
    confirmer.keep(5, 5 / 30, image, Reading(loose=(symbol,)))
    confirmer.keep(6, 6 / 30, image, Reading())
    track = Track.start(symbol, 4, 4 / 30, WHEN)  # first read in a frame not kept
    assert confirmer.at_close(track, 2) == 0


@pytest.mark.parametrize("cut", [False, True], ids=["whole", "cut by the border"])
def test_a_short_code_cut_by_the_frame_border_is_not_confirmed_by_rows(cut: bool) -> None:
    """Half an EAN-13 entering the view reads as a UPC-E or an EAN-8, and every band of the
    cut view reads the same fragment: such a read's rows confirm nothing."""
    image = photo(EAN8, (800, 600), seed=3)
    read = first_read(image)
    xs = [x for x, _ in read.corners]
    ys = [y for _, y in read.corners]
    size = (float(max(xs) - min(xs)), float(max(ys) - min(ys)))
    region = Region(read.centre, size, 0.0, 0.0, 0.9, 200.0, cut)
    confirmer = Confirmer(SecondReader(PipelineConfig()), 0.5, 2)
    confirmer.keep(5, 5 / 30, image, Reading(sightings=(Sighting(region, (read,)),)))
    confirmer.keep(6, 6 / 30, image, Reading())
    track = Track.start(read, 5, 5 / 30, WHEN)
    assert confirmer.at_close(track, 1) == (0 if cut else 1)
