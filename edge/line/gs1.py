"""What a decoded symbol means in GS1 terms: Application Identifiers and their checks.

The symbology identifier decides how the text is read, never a guess from its look: a
GS1 element string only where the symbol declares GS1 content (``]C1``, ``]d2``,
``]Q3``, ``]e0``, ``]J1``), a GTIN from EAN/UPC and ITF-14, a GS1 Digital Link URI
where an ``http(s)`` text carries a GS1 primary key in its path. Anything else (a
plain Code 128, a website in a QR code) is not GS1 and gets no checks. Parsing is
biip's; this module only chooses the parser and turns its findings into checks.

Checks, by name: ``check_digit`` (every GTIN, SSCC and GLN in the data), ``dates``
(every date AI names a real date) and ``gs1_syntax`` (data that declares itself GS1
but does not parse). An :class:`Interpretation` with a failed check is not a good read.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from biip import ParseConfig, ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_messages import GS1Message
from biip.gtin import Gtin
from biip.upc import Upc

from linetrace.broker.contract.messages import CheckResult

if TYPE_CHECKING:
    from biip.gs1_element_strings import GS1ElementStrings

__all__ = [
    "CHECK_DATES",
    "CHECK_DIGIT",
    "CHECK_SYNTAX",
    "Interpretation",
    "interpret",
    "to_hri",
]

logger = logging.getLogger(__name__)

CHECK_DIGIT = "check_digit"
CHECK_DATES = "dates"
CHECK_SYNTAX = "gs1_syntax"

# Symbology identifiers whose data is a GS1 element string (FNC1 in first position).
_ELEMENT_STRING_IDS = frozenset({"]C1", "]d2", "]Q3", "]e0", "]J1"})
# Symbology identifiers whose data is a bare GTIN: EAN-13/UPC-A/UPC-E and EAN-8; and
# interleaved 2 of 5, which carries a GTIN only as the 14 digits of an ITF-14.
_EAN_UPC_IDS = frozenset({"]E0", "]E4"})
_ITF_IDS = frozenset({"]I0", "]I1"})
# GS1 Digital Link primary-key AIs (GS1 Digital Link Standard 1.4, section 4.3): a URL
# path holding one of these followed by a value is a Digital Link, any other URL is not.
_DIGITAL_LINK_KEYS = frozenset(
    {"00", "01", "253", "255", "401", "402", "414", "415", "417", "8003", "8004", "8006",
     "8010", "8013", "8017", "8018"}
)  # fmt: skip
_STRICT = ParseConfig(gs1_element_strings_verify_date=True)
_LENIENT = ParseConfig(gs1_element_strings_verify_date=False)


@dataclass(frozen=True, slots=True)
class Interpretation:
    """The GS1 reading of one code: AI -> value (None when not GS1) and the checks run."""

    gs1: dict[str, str] | None
    checks: dict[str, CheckResult] = field(default_factory=dict)

    @property
    def valid(self) -> bool:
        """True when every check passed: only then is the read a good read."""
        return all(result.passed for result in self.checks.values())

    @property
    def failures(self) -> list[str]:
        """The failed checks, as ``name: detail``, for logs and operators."""
        return [
            f"{name}: {result.detail}" for name, result in self.checks.items() if not result.passed
        ]


NOT_GS1 = Interpretation(gs1=None)


def interpret(
    symbology_id: str | None, text: str, *, symbology: str | None = None
) -> Interpretation:
    """Read ``text`` as the symbology identifier says it must be read.

    ``symbology`` (the decoder's format name) matters only for an 8-digit UPC-E, which
    shares ``]E0`` with EAN-13 but must be expanded before it is a GTIN.
    """
    if _is_digital_link(text):
        return _digital_link(text)
    if symbology_id in _ELEMENT_STRING_IDS:
        return _element_string(text)
    if symbology_id in _EAN_UPC_IDS or (symbology_id in _ITF_IDS and len(text) == 14):
        return _gtin(text, upc_e=symbology == "UPCE" and len(text) == 8)
    return NOT_GS1


def to_hri(symbology_id: str | None, text: str) -> str:
    """The text as people print it: ``(01)09506000134352(10)ABC`` for an element string.

    Other texts (a URI, 13 digits, free text, a malformed element string) come back as
    they are, so this can label any read.
    """
    if symbology_id not in _ELEMENT_STRING_IDS or _is_digital_link(text):
        return text
    try:
        return GS1Message.parse(text, config=_LENIENT).as_hri()
    except ParseError:
        return text


def _is_digital_link(text: str) -> bool:
    try:
        parts = urlsplit(text)
    except ValueError:
        return False
    if parts.scheme not in ("http", "https"):
        return False
    segments = parts.path.split("/")
    return any(seg in _DIGITAL_LINK_KEYS for seg in segments[:-1])


def _element_string(text: str) -> Interpretation:
    try:
        message = GS1Message.parse(text, config=_STRICT)
    except ParseError as strict_error:
        try:
            message = GS1Message.parse(text, config=_LENIENT)
        except ParseError as exc:
            return _syntax_failure(str(exc))
        return _from_elements(message.element_strings, date_error=str(strict_error))
    return _from_elements(message.element_strings)


def _digital_link(text: str) -> Interpretation:
    try:
        uri = GS1DigitalLinkURI.parse(text, config=_STRICT)
    except ParseError as strict_error:
        try:
            uri = GS1DigitalLinkURI.parse(text, config=_LENIENT)
        except ParseError as exc:
            return _syntax_failure(str(exc))
        return _from_elements(uri.element_strings, date_error=str(strict_error))
    return _from_elements(uri.element_strings)


def _gtin(text: str, *, upc_e: bool) -> Interpretation:
    try:
        gtin14 = Upc.parse(text).as_gtin_14() if upc_e else Gtin.parse(text).as_gtin_14()
    except ParseError as exc:
        if not text.isdigit() or len(text) not in (8, 12, 13, 14):
            return _syntax_failure(f"{text!r} is not a GTIN: {exc}")
        return Interpretation(
            gs1={"01": text.zfill(14)},
            checks={CHECK_DIGIT: CheckResult(passed=False, detail=str(exc))},
        )
    return Interpretation(gs1={"01": gtin14}, checks={CHECK_DIGIT: CheckResult(passed=True)})


def _from_elements(elements: GS1ElementStrings, *, date_error: str | None = None) -> Interpretation:
    values: dict[str, str] = {}
    digit_errors: list[str] = []
    has_key = False
    has_date = False
    for element in elements:
        ai = element.ai.ai
        if ai in values and values[ai] != element.value:
            return _syntax_failure(
                f"AI ({ai}) appears twice with different values: "
                f"{values[ai]!r} and {element.value!r}"
            )
        values[ai] = element.value
        errors = [e for e in (element.gtin_error, element.sscc_error, element.gln_error) if e]
        has_key = has_key or bool(errors) or any((element.gtin, element.sscc, element.gln))
        digit_errors.extend(errors)
        has_date = has_date or element.date is not None
    if not values:
        return _syntax_failure("no GS1 element strings in the data")
    checks: dict[str, CheckResult] = {}
    if has_key:
        checks[CHECK_DIGIT] = CheckResult(
            passed=not digit_errors, detail="; ".join(digit_errors) or None
        )
    if has_date or date_error:
        checks[CHECK_DATES] = CheckResult(passed=date_error is None, detail=date_error)
    return Interpretation(gs1=values, checks=checks)


def _syntax_failure(detail: str) -> Interpretation:
    return Interpretation(gs1=None, checks={CHECK_SYNTAX: CheckResult(passed=False, detail=detail)})
