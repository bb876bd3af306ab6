"""Every form a person may bring a code in reduces to the same identity."""

from __future__ import annotations

import pytest

from linetrace.central.derive.codes import MalformedCode, NotAnInstance, identify, instance_key

GTIN = "09506000134352"
SSCC = "106141411234567897"
ITEM = f"(01){GTIN}(21)X1"


@pytest.mark.parametrize(
    "code",
    [
        f"(01){GTIN}(10)ABC(21)X1",
        f"  (01){GTIN}(21)X1  ",
        f"01{GTIN}10ABC\x1d21X1",
        f"]d201{GTIN}10ABC\x1d21X1",
        f"01{GTIN}21X1",
        f"https://id.gs1.org/01/{GTIN}/21/X1?17=260101",
        f"https://example.com/shop/01/{GTIN}/10/ABC/21/X1",
    ],
)
def test_item_forms(code: str) -> None:
    identity = identify(code)
    assert (identity.kind, identity.key, identity.gtin, identity.serial) == (
        "item",
        ITEM,
        GTIN,
        "X1",
    )


def test_the_lot_a_code_carries_is_kept() -> None:
    assert identify(f"(01){GTIN}(10)ABC(21)X1").lot == "ABC"
    assert identify(ITEM).lot is None


@pytest.mark.parametrize(
    "code", [SSCC, f"(00){SSCC}", f"00{SSCC}", f"https://id.gs1.org/00/{SSCC}", f"]C100{SSCC}"]
)
def test_sscc_forms(code: str) -> None:
    identity = identify(code)
    assert (identity.kind, identity.key, identity.sscc) == ("sscc", f"(00){SSCC}", SSCC)


@pytest.mark.parametrize("code", ["LINE-7 PART 42", "12345", "0123 not gs1", "http"])
def test_other_text_is_raw(code: str) -> None:
    identity = identify(code)
    assert (identity.kind, identity.key, identity.text) == ("raw", code, code)


@pytest.mark.parametrize(
    ("code", "reason"),
    [
        ("", "empty"),
        ("x" * 5000, "5000 characters"),
        (f"(01){GTIN[:-1]}9(21)X1", "check digit"),
        ("106141411234567890", "check digit"),
        ("(01)123", "not a GS1 human-readable code"),
        ("https://example.com/about", "not a GS1 Digital Link"),
        (f"(01){GTIN}(21)X1(21)X2", "twice"),
        (f"(01){GTIN}(21){'S' * 21}", "not a GS1 human-readable code"),
    ],
)
def test_malformed_codes_say_why(code: str, reason: str) -> None:
    with pytest.raises(MalformedCode, match=reason):
        identify(code)


@pytest.mark.parametrize(
    ("code", "what"),
    [
        ("9506000134352", f"the product {GTIN}"),
        (GTIN, f"the product {GTIN}"),
        (f"(01){GTIN}(10)ABC", f"lot ABC of GTIN {GTIN}"),
        (f"https://id.gs1.org/01/{GTIN}/10/ABC", f"lot ABC of GTIN {GTIN}"),
        ("(414)5412345000013", "neither an SSCC"),
    ],
)
def test_a_product_or_lot_is_not_an_instance(code: str, what: str) -> None:
    with pytest.raises(NotAnInstance, match=what):
        identify(code)


def test_instance_keys_of_stored_gs1_maps() -> None:
    assert instance_key({"01": GTIN, "21": "X1", "10": "L"}) == ITEM
    assert instance_key({"00": SSCC, "02": GTIN, "10": "L"}) == f"(00){SSCC}"
    assert instance_key({"01": GTIN, "10": "L"}) is None
    assert instance_key({"01": GTIN, "21": "S" * 21}) is None  # breaks AI 21's format
    assert instance_key(None) is None
