"""The GS1 key rules every part applies: check digits, GTIN/GLN/SSCC forms, lot and serial.

Edge and central check the same keys (a GTIN in a batch, a GLN in a station's settings,
the SSCC of a pallet, the keys in an event's ``gs1`` map), so the rules live here once,
on biip's implementation of the GS1 General Specifications. Errors are
:class:`~linetrace.errors.InvalidCode` with a message that names the key and the rule.

Outcomes of :func:`gs1_key_problem` are cached: a line packs a handful of products, so
the same GTINs come in again and again, and the check was a measurable part of the
ingest's time per event.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping

from biip.checksums import gs1_standard_check_digit

from linetrace.errors import InvalidCode

__all__ = [
    "CHECKED_AIS",
    "CSET82",
    "LOT_PATTERN",
    "SERIAL_PATTERN",
    "check_digit",
    "gs1_key_problem",
    "gtin14",
    "key_problem",
    "valid_gln",
    "valid_lot",
    "valid_sscc",
]

# AI -> (key name, length in digits, check digit included), from the GS1 General
# Specifications: the fixed-length all-numeric keys that end in a mod-10 check digit.
CHECKED_AIS: dict[str, tuple[str, int]] = {
    "00": ("SSCC", 18),
    "01": ("GTIN", 14),
    "02": ("GTIN of contained items", 14),
    **{f"41{n}": ("GLN", 13) for n in range(8)},
    "8017": ("GSRN of a provider", 18),
    "8018": ("GSRN of a recipient", 18),
}
# GS1 AI encodable character set 82: the characters allowed in an alphanumeric AI value,
# as a regular-expression character class.
CSET82 = r"!\"%-/0-9:-?A-Z_a-z"
# AI 10 (batch/lot) and AI 21 (serial): 1 to 20 characters of CSET 82. \Z, not $: a
# $ also matches before a final newline, which would let "L1\n" pass.
LOT_PATTERN = re.compile(f"^[{CSET82}]{{1,20}}\\Z")
SERIAL_PATTERN = LOT_PATTERN
_GTIN_LENGTHS = (8, 12, 13, 14)
# Keys whose outcome is remembered: far more than the GTINs and GLNs of a plant, so those
# stay cached, while unique keys (SSCCs of pallets) only cycle through a bounded table.
_CACHE_SIZE = 16_384


def check_digit(digits: str) -> int:
    """The GS1 mod-10 check digit for ``digits`` (the key without its last digit)."""
    return gs1_standard_check_digit(digits)


@functools.lru_cache(maxsize=_CACHE_SIZE)
def key_problem(ai: str, value: str) -> str | None:
    """Why ``value`` is not a valid key of ``ai`` (one of :data:`CHECKED_AIS`), or None."""
    name, length = CHECKED_AIS[ai]
    if len(value) != length or not value.isascii() or not value.isdigit():
        return f"{value[:40]!r} is not a {name}: expected {length} digits"
    expected = check_digit(value[:-1])
    if int(value[-1]) != expected:
        return f"{value!r} has a wrong {name} check digit (expected {expected}, got {value[-1]})"
    return None


def gs1_key_problem(gs1: Mapping[str, str], where: str = "gs1") -> str | None:
    """Why a key in ``gs1`` is not a valid GS1 key, or None when every checked key is."""
    for ai, value in gs1.items():
        if ai in CHECKED_AIS:
            problem = key_problem(ai, value)
            if problem is not None:
                return f"{where}.{ai} {problem}"
    return None


def gtin14(text: str) -> str:
    """``text`` (a GTIN-8, -12, -13 or -14) as GTIN-14, or :class:`InvalidCode` saying why."""
    if not (text.isascii() and text.isdigit()) or len(text) not in _GTIN_LENGTHS:
        raise InvalidCode(f"GTIN {text[:40]!r} must be 8, 12, 13 or 14 digits")
    expected = check_digit(text[:-1])
    if int(text[-1]) != expected:
        raise InvalidCode(f"GTIN {text} has a wrong check digit (expected {expected})")
    return text.zfill(14)


def valid_gln(text: str) -> str:
    """``text`` when it is a 13-digit GLN with a valid check digit, else :class:`InvalidCode`."""
    return _valid_key("414", text)


def valid_sscc(text: str) -> str:
    """``text`` when it is an 18-digit SSCC with a valid check digit, else :class:`InvalidCode`."""
    return _valid_key("00", text)


def valid_lot(text: str) -> str:
    """``text`` when it can be a GS1 batch/lot (AI 10), else :class:`InvalidCode`."""
    if not LOT_PATTERN.match(text):
        raise InvalidCode(
            f"lot {text[:40]!r} must be 1 to 20 characters of the GS1 character set "
            "(letters, digits and !\"%&'()*+,-./:;<=>?_)"
        )
    return text


def _valid_key(ai: str, text: str) -> str:
    problem = key_problem(ai, text)
    if problem is not None:
        raise InvalidCode(problem)
    return text
