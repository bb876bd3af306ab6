"""GS1 interpretation: the symbology identifier decides, biip parses, checks say why not."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from linetrace.edge.line.gs1 import CHECK_DATES, CHECK_DIGIT, CHECK_SYNTAX, interpret, to_hri
from tests.edge.barcodes import GTIN, with_check_digit

GS = "\x1d"
SSCC = with_check_digit("08938500000000012")
GLN = with_check_digit("893850000001")


def test_gs1_datamatrix_element_string_gives_every_ai() -> None:
    meaning = interpret("]d2", f"01{GTIN}17271231" + f"10L2611{GS}21000123")

    assert meaning.gs1 == {"01": GTIN, "17": "271231", "10": "L2611", "21": "000123"}
    assert meaning.checks[CHECK_DIGIT].passed
    assert meaning.checks[CHECK_DATES].passed
    assert meaning.valid


def test_wrong_gtin_check_digit_is_not_a_valid_read() -> None:
    meaning = interpret("]d2", "010893850000001817271231" + f"10L2611{GS}21000123")

    assert meaning.gs1 is not None
    assert meaning.gs1["01"] == "08938500000018"
    assert not meaning.checks[CHECK_DIGIT].passed
    assert "Expected 0, got 8" in (meaning.checks[CHECK_DIGIT].detail or "")
    assert not meaning.valid
    assert meaning.failures == [f"{CHECK_DIGIT}: {meaning.checks[CHECK_DIGIT].detail}"]


def test_gs1_128_sscc_and_gln_check_digits() -> None:
    assert interpret("]C1", f"00{SSCC}").checks[CHECK_DIGIT].passed
    bad_sscc = SSCC[:-1] + str((int(SSCC[-1]) + 1) % 10)
    assert not interpret("]C1", f"00{bad_sscc}").valid
    assert interpret("]C1", f"414{GLN}").gs1 == {"414": GLN}
    assert interpret("]C1", f"414{GLN}").valid
    assert not interpret("]C1", f"414{GLN[:-1]}{(int(GLN[-1]) + 1) % 10}").valid


def test_impossible_date_fails_the_dates_check_but_keeps_the_values() -> None:
    meaning = interpret("]d2", f"01{GTIN}17270230")  # 30 February

    assert meaning.gs1 == {"01": GTIN, "17": "270230"}
    assert meaning.checks[CHECK_DIGIT].passed
    assert not meaning.checks[CHECK_DATES].passed
    assert "270230" in (meaning.checks[CHECK_DATES].detail or "")
    assert not meaning.valid


def test_day_zero_means_end_of_month_and_is_valid() -> None:
    assert interpret("]d2", f"01{GTIN}17271200").checks[CHECK_DATES].passed


def test_data_that_claims_gs1_but_does_not_parse_fails_syntax() -> None:
    for text in ("", "ABC", f"01{GTIN[:10]}", f"01{GTIN}17271331"):
        meaning = interpret("]d2", text)
        assert meaning.gs1 is None, text
        assert not meaning.checks[CHECK_SYNTAX].passed, text
        assert meaning.checks[CHECK_SYNTAX].detail, text


def test_an_ai_repeated_with_different_values_is_a_syntax_error() -> None:
    meaning = interpret("]d2", f"01{GTIN}10A{GS}10B")

    assert not meaning.valid
    assert "(10)" in (meaning.checks[CHECK_SYNTAX].detail or "")


def test_digital_link_uri_in_a_plain_qr_code() -> None:
    uri = f"https://id.gs1.org/01/{GTIN}/10/L2611/21/000123?17=271231"
    meaning = interpret("]Q1", uri)

    assert meaning.gs1 == {"01": GTIN, "10": "L2611", "21": "000123", "17": "271231"}
    assert meaning.valid


def test_digital_link_with_wrong_check_digit_is_rejected() -> None:
    meaning = interpret("]Q1", "https://example.com/01/08938500000018/21/7")

    assert meaning.gs1 == {"01": "08938500000018", "21": "7"}
    assert not meaning.checks[CHECK_DIGIT].passed


def test_malformed_digital_link_fails_syntax() -> None:
    meaning = interpret("]Q1", "https://id.gs1.org/01/not-a-gtin")

    assert meaning.gs1 is None
    assert not meaning.checks[CHECK_SYNTAX].passed


def test_ordinary_urls_are_not_gs1() -> None:
    for url in ("https://example.com/", "https://example.com/about/us", "ftp://x/01/1"):
        meaning = interpret("]Q1", url)
        assert meaning.gs1 is None, url
        assert meaning.checks == {}, url
        assert meaning.valid, url


def test_ean13_becomes_a_gtin14_in_ai_01() -> None:
    meaning = interpret("]E0", "5901234123457")

    assert meaning.gs1 == {"01": "05901234123457"}
    assert meaning.checks[CHECK_DIGIT].passed


def test_ean8_upc_e_and_itf14_become_gtin14s() -> None:
    assert interpret("]E4", "96385074").gs1 == {"01": "00000096385074"}
    assert interpret("]E0", "01234565", symbology="UPCE").gs1 == {"01": "00012345000065"}
    assert interpret("]I1", "00012345678905").gs1 == {"01": "00012345678905"}


def test_ean13_with_wrong_check_digit_is_rejected() -> None:
    meaning = interpret("]E0", "5901234123458")

    assert meaning.gs1 == {"01": "05901234123458"}
    assert not meaning.valid


def test_non_gs1_text_gets_no_ai_and_no_checks() -> None:
    for symbology_id, text in (
        ("]Q1", "HELLO WORLD"),
        ("]C0", f"01{GTIN}"),  # looks like GS1 but the symbol does not say so
        ("]d1", "lot 42"),
        ("]I0", "123456"),  # interleaved 2 of 5 that is no ITF-14
        (None, "anything"),
    ):
        meaning = interpret(symbology_id, text)
        assert meaning.gs1 is None, (symbology_id, text)
        assert meaning.checks == {}, (symbology_id, text)
        assert meaning.valid


def test_to_hri_prints_element_strings_and_leaves_other_text() -> None:
    assert to_hri("]d2", f"01{GTIN}10L2611{GS}21000123") == f"(01){GTIN}(10)L2611(21)000123"
    assert to_hri("]E0", "5901234123457") == "5901234123457"
    assert to_hri("]Q1", "https://id.gs1.org/01/1") == "https://id.gs1.org/01/1"
    assert to_hri("]d2", "garbage") == "garbage"


@given(
    payload=st.text(alphabet="0123456789", min_size=13, max_size=13),
    lot=st.text(alphabet="ABCDEFGHJKLMNPQRSTUVWXYZ0123456789", min_size=1, max_size=20),
    serial=st.text(alphabet="0123456789ABCDEF", min_size=1, max_size=20),
)
def test_any_valid_element_string_round_trips(payload: str, lot: str, serial: str) -> None:
    gtin = with_check_digit(payload)
    meaning = interpret("]d2", f"01{gtin}10{lot}{GS}21{serial}")

    assert meaning.gs1 == {"01": gtin, "10": lot, "21": serial}
    assert meaning.valid
