"""GS1 data from the generator must pass an independent GS1 parser, check digits first."""

from __future__ import annotations

import re
from datetime import date

import pytest
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin, GtinFormat
from biip.sscc import Sscc
from hypothesis import given
from hypothesis import strategies as st

from linetrace.synth.codes import (
    VIETNAM_GS1_PREFIX,
    CodeFactory,
    Symbology,
    with_check_digit,
)

SEEDS = range(20)


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ("400638133393", "4006381333931"),  # EAN-13 printed on a well-known retail product
        ("950110153100", "9501101531000"),  # GS1 General Specifications example
        ("37610425002123456", "376104250021234569"),  # SSCC from the GS1 Logistic Label guide
    ],
)
def test_check_digit_matches_published_examples(payload: str, expected: str) -> None:
    assert with_check_digit(payload) == expected


@given(st.text(alphabet="0123456789", min_size=12, max_size=12))
def test_any_payload_gets_a_gtin13_biip_accepts(payload: str) -> None:
    assert Gtin.parse(with_check_digit(payload)).value == with_check_digit(payload)


@pytest.mark.parametrize("seed", SEEDS)
def test_gtins_are_valid_vietnamese_gtins(seed: int) -> None:
    factory = CodeFactory(seed)
    for _ in range(20):
        gtin13 = Gtin.parse(factory.gtin13())
        assert gtin13.format is GtinFormat.GTIN_13
        assert gtin13.prefix is not None
        assert gtin13.prefix.usage == "GS1 Vietnam"
        gtin14 = Gtin.parse(factory.gtin14())
        assert gtin14.format is GtinFormat.GTIN_14
        assert gtin14.value[1:4] == VIETNAM_GS1_PREFIX


@pytest.mark.parametrize("seed", SEEDS)
def test_ssccs_are_valid_and_unique(seed: int) -> None:
    factory = CodeFactory(seed)
    ssccs = [factory.sscc() for _ in range(50)]
    for value in ssccs:
        assert Sscc.parse(value).value == value
    assert len(set(ssccs)) == len(ssccs)


@pytest.mark.parametrize("seed", SEEDS)
def test_lots_expiries_and_serials_fit_their_application_identifiers(seed: int) -> None:
    factory = CodeFactory(seed)
    for product in factory.products:
        assert re.fullmatch(r"[A-Z0-9]{1,20}", product.lot)
        message = GS1Message.parse_hri(f"(17){product.expiry}")
        expiry = message.element_strings[0].date
        assert expiry is not None
        assert expiry > date(2026, 1, 1)
    serials = [factory.serial() for _ in range(100)]
    assert len(set(serials)) == 100
    assert all(re.fullmatch(r"[0-9]{8}", serial) for serial in serials)


def _element_strings(symbology: Symbology, text: str) -> dict[str, str]:
    if symbology is Symbology.GS1_QR_DIGITAL_LINK:
        elements = GS1DigitalLinkURI.parse(text).element_strings
    elif symbology is Symbology.EAN_13:
        return {"01": Gtin.parse(text).as_gtin_14()}
    else:
        elements = GS1Message.parse_hri(text).element_strings
    for element in elements:
        assert element.gtin_error is None
        assert element.sscc_error is None
    return {element.ai.ai: element.value for element in elements}


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("symbology", list(Symbology))
def test_label_data_parses_back_to_its_gs1_fields(seed: int, symbology: Symbology) -> None:
    factory = CodeFactory(seed)
    for _ in range(5):
        data = factory.label_data(symbology)
        assert data.symbology is symbology
        assert _element_strings(symbology, data.text) == data.gs1


def test_same_seed_same_codes_and_other_seed_other_codes() -> None:
    def draw(seed: int) -> list[str]:
        factory = CodeFactory(seed)
        return [factory.label_data(s).text for s in Symbology for _ in range(3)]

    assert draw(5) == draw(5)
    assert draw(5) != draw(6)


def test_a_factory_needs_a_product() -> None:
    with pytest.raises(ValueError, match="products must be at least 1"):
        CodeFactory(0, products=0)
