"""Whether two decoders read the same code, whatever each called its format."""

from __future__ import annotations

import pytest

from linetrace.edge.line.confirm import same_code
from linetrace.edge.vision.decode import Symbol
from tests.edge.barcodes import symbol


def read(symbology: str, text: str, symbology_id: str = "]E0") -> Symbol:
    return symbol(text, symbology=symbology, symbology_id=symbology_id)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("UPCA", "036000291452"), ("EAN13", "0036000291452")),  # zbar's and zxing-cpp's
        (("UPCE", "01234565"), ("UPCE", "0012345000065")),  # 8 digits, or expanded
        (("EAN8", "96385074", "]E4"), ("EAN8", "96385074", "]E4")),
        (("Code128", "00089385000000042171", "]C1"), ("Code128", "00089385000000042171", "]C1")),
        (("ITF14", "18938500000013", "]I0"), ("ITF", "18938500000013", "]I0")),
    ],
)
def test_one_code_however_reported(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    assert same_code(read(*first), read(*second))


@pytest.mark.parametrize(
    ("first", "second"),
    [
        (("EAN13", "8938500000126"), ("EAN13", "8938500000997")),  # both check digits fit
        (("UPCA", "036000291452"), ("EAN13", "1036000291459")),
        (("Code128", "ABC", "]C0"), ("Code39", "ABC", "]A0")),
    ],
)
def test_another_code(first: tuple[str, ...], second: tuple[str, ...]) -> None:
    assert not same_code(read(*first), read(*second))
