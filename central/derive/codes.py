"""What a code names: one item (GTIN + serial), one logistic unit (SSCC), or raw text.

People bring codes in every form a label shows them: the human-readable text under a
DataMatrix (``(01)08938500000018(21)000123``), the element string a scanner sends (with
GS separators, maybe a ``]d2`` symbology identifier in front), a bare SSCC, a GS1 Digital
Link URI from a QR code, or the text of a code that is not GS1 at all. The traces store
GS1 keys as columns (gtin, serial, sscc) and containment as canonical keys, so every
form is reduced here to one :class:`CodeIdentity`. Parsing is biip's (the GS1 syntax
dictionary, check digits, Digital Link path rules); this module only decides which
parser a text is for, and what the parsed keys identify.

Exceptions: :class:`MalformedCode` (the text claims a GS1 form and breaks it) and its
subclass :class:`NotAnInstance` (a valid code that names a product or a lot, not one
thing that can be traced).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal
from urllib.parse import urlsplit

from biip import ParseConfig, ParseError
from biip.gs1_digital_link_uris import GS1DigitalLinkURI
from biip.gs1_element_strings import GS1ElementString
from biip.gs1_messages import GS1Message

from linetrace.central.store.gs1keys import extract_keys
from linetrace.errors import InvalidCode

__all__ = [
    "MAX_CODE_LENGTH",
    "CodeIdentity",
    "MalformedCode",
    "NotAnInstance",
    "identify",
    "instance_key",
    "item_key",
    "sscc_key",
]

# The contract's limit on an event's text: nothing longer can have been stored.
MAX_CODE_LENGTH = 4096
# Dates are not what a trace looks up; a label with an impossible date must still be
# traceable by its keys, so the date check stays off while parsing a code to trace.
_PARSE = ParseConfig(gs1_element_strings_verify_date=False)
# ISO/IEC 15424 symbology identifier in front of scanner output, e.g. ]d2, ]C1, ]Q3.
_SYMBOLOGY_ID = re.compile(r"^\][A-Za-z][0-9A-Za-z]")
# Digit-only texts that are GS1 keys on their own: GTIN-8/12/13/14 and the SSCC.
_SSCC_LENGTH = 18
_KEY_LENGTHS = frozenset({8, 12, 13, 14, _SSCC_LENGTH})
# An element string without separators starts with its key: (00) and 18 digits or (01)
# and 14. Other digit runs are left to be raw codes.
_ELEMENT_STRING_START = re.compile(r"^(00[0-9]{18}|01[0-9]{14})")


class MalformedCode(InvalidCode):
    """A code that claims a GS1 form (HRI, element string, Digital Link) and breaks it."""


class NotAnInstance(MalformedCode):
    """A valid GS1 code that names a product or a lot, not one item or logistic unit."""


@dataclass(frozen=True, slots=True)
class CodeIdentity:
    """What a code names, and the key the traces store it under.

    ``kind`` is ``item`` (``gtin`` and ``serial`` set), ``sscc`` (``sscc`` set) or
    ``raw`` (``text`` set: not GS1, matched exactly against the stored decoded text).
    ``lot`` is the lot the code itself carries, if any.
    """

    kind: Literal["item", "sscc", "raw"]
    key: str
    gtin: str | None = None
    serial: str | None = None
    sscc: str | None = None
    lot: str | None = None
    text: str | None = None


def item_key(gtin: str, serial: str) -> str:
    """The canonical key of one trade item: its GS1 HRI, ``(01)<gtin>(21)<serial>``."""
    return f"(01){gtin}(21){serial}"


def sscc_key(sscc: str) -> str:
    """The canonical key of one logistic unit: ``(00)<sscc>``."""
    return f"(00){sscc}"


def instance_key(gs1: Mapping[str, str] | None) -> str | None:
    """The key of the item or logistic unit a stored ``gs1`` map names, or None.

    The SSCC wins over a GTIN: a logistic label may also name the GTIN of its content
    (AI 02) and a lot, but it identifies the unit. Values that break their AI's format
    are not keys (the store does not index them either).
    """
    keys = extract_keys(gs1)
    if keys.sscc is not None:
        return sscc_key(keys.sscc)
    if keys.gtin is not None and keys.serial is not None:
        return item_key(keys.gtin, keys.serial)
    return None


def identify(code: str) -> CodeIdentity:
    """Reduce ``code``, in any form a person may give it, to what it identifies."""
    text = code.strip()
    if not text:
        raise MalformedCode("the code is empty")
    if len(text) > MAX_CODE_LENGTH:
        raise MalformedCode(f"the code is {len(text)} characters long; at most {MAX_CODE_LENGTH}")
    if _looks_like_uri(text):
        return _from_values(_digital_link_values(text), text)
    if text.startswith("("):
        return _from_values(_hri_values(text), text)
    if _SYMBOLOGY_ID.match(text):
        return _from_values(_element_string_values(text[3:]), text)
    if text.isascii() and text.isdigit() and len(text) in _KEY_LENGTHS:
        return _from_bare_key(text)
    if "\x1d" in text or _ELEMENT_STRING_START.match(text):
        return _from_values(_element_string_values(text), text)
    return CodeIdentity(kind="raw", key=text, text=text)


def _looks_like_uri(text: str) -> bool:
    try:
        return urlsplit(text).scheme in {"http", "https"}
    except ValueError:
        return False


def _from_bare_key(text: str) -> CodeIdentity:
    """A bare SSCC, or a bare GTIN (which names a product, not an item)."""
    if len(text) == _SSCC_LENGTH:
        return _from_values(_element_values("00", text), text)
    return _from_values(_element_values("01", text.zfill(14)), text)


def _from_values(values: Mapping[str, str], text: str) -> CodeIdentity:
    keys = extract_keys(values)
    if keys.malformed:
        names = ", ".join(f"({ai})" for ai in keys.malformed)
        raise MalformedCode(f"{text[:80]!r}: {names} breaks the format of its GS1 AI")
    if keys.sscc is not None:
        return CodeIdentity(kind="sscc", key=sscc_key(keys.sscc), sscc=keys.sscc, lot=keys.lot)
    if keys.gtin is not None and keys.serial is not None:
        return CodeIdentity(
            kind="item",
            key=item_key(keys.gtin, keys.serial),
            gtin=keys.gtin,
            serial=keys.serial,
            lot=keys.lot,
        )
    if keys.gtin is not None:
        what = f"lot {keys.lot} of GTIN {keys.gtin}" if keys.lot else f"the product {keys.gtin}"
        raise NotAnInstance(
            f"{text[:80]!r} names {what}, not one item: add its serial (21), "
            "or trace the lot instead"
        )
    raise NotAnInstance(f"{text[:80]!r} carries neither an SSCC (00) nor a GTIN (01)")


def _element_values(ai: str, value: str) -> dict[str, str]:
    try:
        element = GS1ElementString.parse(ai + value, config=_PARSE)
    except ParseError as exc:
        raise MalformedCode(f"{value!r} is not a valid GS1 ({ai}): {exc}") from None
    _raise_on_check_digit([element])
    return {element.ai.ai: element.value}


def _hri_values(text: str) -> dict[str, str]:
    try:
        message = GS1Message.parse_hri(text, config=_PARSE)
    except ParseError as exc:
        raise MalformedCode(f"{text[:80]!r} is not a GS1 human-readable code: {exc}") from None
    return _values(message.element_strings)


def _element_string_values(text: str) -> dict[str, str]:
    try:
        message = GS1Message.parse(text, config=_PARSE)
    except ParseError as exc:
        raise MalformedCode(f"{text[:80]!r} is not a GS1 element string: {exc}") from None
    return _values(message.element_strings)


def _digital_link_values(text: str) -> dict[str, str]:
    try:
        uri = GS1DigitalLinkURI.parse(text, config=_PARSE)
    except ParseError as exc:
        raise MalformedCode(f"{text[:80]!r} is not a GS1 Digital Link URI: {exc}") from None
    return _values(uri.element_strings)


def _values(elements: list[GS1ElementString]) -> dict[str, str]:
    _raise_on_check_digit(elements)
    values: dict[str, str] = {}
    for element in elements:
        previous = values.setdefault(element.ai.ai, element.value)
        if previous != element.value:
            raise MalformedCode(f"AI ({element.ai.ai}) appears twice with different values")
    return values


def _raise_on_check_digit(elements: list[GS1ElementString]) -> None:
    for element in elements:
        error = element.gtin_error or element.sscc_error or element.gln_error
        if error:
            raise MalformedCode(error)
