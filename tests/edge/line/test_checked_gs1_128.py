"""A moving line's GS1-128 read in one frame, whose SSCC or GTIN check digit verifies, is
confirmed by its two checks; an EAN-13, a GS1-128 without such a key, one whose check digit
fails, and any read of a still scene or single photo still need an agreeing read."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest

from linetrace.edge.line.confirm import Confirmer, doubly_checked
from linetrace.edge.line.track import Track
from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.reading import Reading
from linetrace.edge.vision.second_read import SecondReader
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import symbol, with_check_digit

GS = "\x1d"
WHEN = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
SSCC = "00" + with_check_digit("08936034000496582")
GTIN_AND_LOT = "01" + with_check_digit("0893850000004") + "10LOT7" + GS + "21A1"
WRONG_SSCC = SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10)
# A grey view: no band of it reads anything, so only the checks can confirm.
GREY = np.full((240, 480), 128, np.uint8)


def read(text: str, symbology: str = "Code128", symbology_id: str = "]C1") -> Symbol:
    return symbol(text, 240, 120, size=200, symbology=symbology, symbology_id=symbology_id)


@pytest.mark.parametrize(
    ("first", "expected"),
    [
        (read(SSCC), True),
        (read(GTIN_AND_LOT), True),
        (read(WRONG_SSCC), False),  # its check digit fails
        (read("10LOT7" + GS + "21A1"), False),  # no key with a check digit
        (read(SSCC, symbology_id="]C0"), False),  # plain Code 128: no GS1 data
        (read(with_check_digit("893850000099"), "EAN13", "]E0"), False),  # one check only
    ],
    ids=["sscc", "gtin+lot", "wrong check digit", "lot only", "plain code 128", "ean-13"],
)
def test_which_reads_two_checks_passed(first: Symbol, expected: bool) -> None:
    assert doubly_checked(first) is expected


def at_close_after_one_frame(first: Symbol, *, moving: bool) -> int:
    """The agreeing reads a passage read in frame 5 only gets at close: on a moving line
    (frame 6 read after it) or as the last frame read (a still item, a photo)."""
    confirmer = Confirmer(SecondReader(PipelineConfig()), 0.5, 2)
    confirmer.keep(5, 5 / 30, GREY, Reading(loose=(first,)))
    if moving:
        confirmer.keep(6, 6 / 30, GREY, Reading())
    return confirmer.at_close(Track.start(first, 5, 5 / 30, WHEN), 1)


@pytest.mark.parametrize("text", [SSCC, GTIN_AND_LOT], ids=["sscc", "gtin+lot"])
def test_a_doubly_checked_read_of_a_moving_line_is_confirmed(text: str) -> None:
    assert at_close_after_one_frame(read(text), moving=True) == 1


@pytest.mark.parametrize(
    "first",
    [read(with_check_digit("893850000099"), "EAN13", "]E0"), read("10LOT7" + GS + "21A1")],
    ids=["ean-13", "lot only"],
)
def test_a_read_with_one_check_still_needs_an_agreeing_read(first: Symbol) -> None:
    assert at_close_after_one_frame(first, moving=True) == 0


def test_a_still_item_or_photo_still_needs_an_independent_read() -> None:
    """Where no other frame read it, the checks do not replace a second decoder."""
    assert at_close_after_one_frame(read(SSCC), moving=False) == 0
