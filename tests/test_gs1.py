"""linetrace.gs1: check digits, GTIN/GLN/SSCC forms and the lot rule, against known keys."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linetrace.errors import InvalidCode
from linetrace.gs1 import (
    CHECKED_AIS,
    LOT_PATTERN,
    check_digit,
    gs1_key_problem,
    gtin14,
    key_problem,
    valid_gln,
    valid_lot,
    valid_sscc,
)

# Keys published with a valid check digit (GS1 examples and products in trade).
KNOWN_KEYS = [
    "96385074",  # GTIN-8
    "036000291452",  # GTIN-12 (UPC-A)
    "4006381333931",  # GTIN-13
    "5901234123457",  # GTIN-13, the GS1 example
    "08938500000010",  # GTIN-14, one of this project's products
    "0614141000005",  # GLN
    "106141412345678908",  # SSCC, the GS1 General Specifications' example
]


def reference_check_digit(digits: str) -> int:
    """The GS1 mod-10 rule written out: weights 3, 1, 3, ... from the right."""
    total = sum(int(d) * (3 if i % 2 == 0 else 1) for i, d in enumerate(reversed(digits)))
    return (10 - total % 10) % 10


@pytest.mark.parametrize("key", KNOWN_KEYS)
def test_check_digit_of_known_keys(key: str) -> None:
    assert check_digit(key[:-1]) == int(key[-1])


@given(st.text(alphabet="0123456789", min_size=1, max_size=17))
def test_check_digit_follows_the_mod10_rule(digits: str) -> None:
    assert check_digit(digits) == reference_check_digit(digits)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("96385074", "00000096385074"),
        ("036000291452", "00036000291452"),
        ("4006381333931", "04006381333931"),
        ("08938500000010", "08938500000010"),
    ],
)
def test_gtin14_pads_8_12_13_and_14_digits(text: str, expected: str) -> None:
    assert gtin14(text) == expected


@pytest.mark.parametrize("text", ["4006381333932", "08938500000011"])
def test_gtin14_refuses_a_wrong_check_digit(text: str) -> None:
    with pytest.raises(InvalidCode, match="wrong check digit"):
        gtin14(text)


@pytest.mark.parametrize("text", ["", "1234567", "123456789", "400638133393100", "4006381x33931"])
def test_gtin14_refuses_wrong_lengths_and_non_digits(text: str) -> None:
    with pytest.raises(InvalidCode, match="8, 12, 13 or 14 digits"):
        gtin14(text)


def test_gtin14_refuses_non_ascii_digits() -> None:
    with pytest.raises(InvalidCode):
        gtin14("٤٠٠٦٣٨١٣٣٣٩٣١")  # Arabic-Indic digits: isdigit() but not a GTIN


def test_invalid_code_is_a_value_error() -> None:
    with pytest.raises(ValueError, match="8, 12, 13 or 14 digits"):
        gtin14("1")


def test_gln_and_sscc_keep_valid_keys_and_refuse_wrong_ones() -> None:
    assert valid_gln("0614141000005") == "0614141000005"
    assert valid_sscc("106141412345678908") == "106141412345678908"
    with pytest.raises(InvalidCode, match="wrong GLN check digit"):
        valid_gln("0614141000006")
    with pytest.raises(InvalidCode, match="not a GLN: expected 13 digits"):
        valid_gln("614141000005")
    with pytest.raises(InvalidCode, match="wrong SSCC check digit"):
        valid_sscc("106141412345678909")


def test_key_problem_names_the_key_and_the_rule() -> None:
    assert key_problem("01", "08938500000010") is None
    assert key_problem("01", "8938500000010") == (
        "'8938500000010' is not a GTIN: expected 14 digits"
    )
    assert key_problem("00", "106141412345678900") == (
        "'106141412345678900' has a wrong SSCC check digit (expected 8, got 0)"
    )
    assert set(CHECKED_AIS) >= {"00", "01", "02", "410", "414", "417", "8017", "8018"}


def test_gs1_key_problem_checks_only_the_checked_ais() -> None:
    assert gs1_key_problem({"01": "08938500000010", "10": "LOT-1", "21": "anything"}) is None
    problem = gs1_key_problem({"10": "LOT-1", "01": "08938500000011"}, where="event.gs1")
    assert problem is not None
    assert problem.startswith("event.gs1.01 '08938500000011' has a wrong GTIN check digit")


@pytest.mark.parametrize("lot", ["L", "LOT-2025/03", "A" * 20, "!\"%&'()*+,-./:;<=>?_z"[:20]])
def test_lots_of_cset82_up_to_20_characters_are_valid(lot: str) -> None:
    assert valid_lot(lot) == lot
    assert LOT_PATTERN.match(lot)


@pytest.mark.parametrize("lot", ["", "A" * 21, "LOT 1", "LÔ1", "L#1", "L1\n", "L@1"])
def test_lots_outside_the_rule_are_refused(lot: str) -> None:
    assert LOT_PATTERN.match(lot) is None
    with pytest.raises(InvalidCode, match="1 to 20 characters"):
        valid_lot(lot)
