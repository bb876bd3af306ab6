"""GS1 check digits of the identification keys in an event's ``gs1`` map.

The edge verifies check digits before it builds ``gs1`` (a misprinted label is reported
as a failed check, its ``gs1`` left out), so a key with a wrong check digit arriving at
central means a faulty or forged station: storing it would put a key that identifies
nothing into the traces. The rule is the GS1 General Specifications' mod-10 (weights 3
and 1 from the right, check digit last); it is small enough that central needs no GS1
library for it.

The outcome for each (AI, value) is cached: a line packs a handful of products, so the
same GTINs come in again and again, and the check was a measurable part of the ingest's
time per event.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

__all__ = ["CHECKED_AIS", "gs1_key_problem", "mod10_check_digit"]

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
# Keys whose outcome is remembered: far more than the GTINs and GLNs of a plant, so those
# stay cached, while unique keys (SSCCs of pallets) only cycle through a bounded table.
_CACHE_SIZE = 16_384


def mod10_check_digit(digits: str) -> int:
    """The GS1 check digit for ``digits`` (the key without its last digit)."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        total += int(char) * (3 if position % 2 == 0 else 1)
    return (10 - total % 10) % 10


def gs1_key_problem(gs1: Mapping[str, str], where: str = "gs1") -> str | None:
    """Why a key in ``gs1`` is not a valid GS1 key, or None when every checked key is."""
    for ai, value in gs1.items():
        if ai not in CHECKED_AIS:
            continue
        problem = _key_problem(ai, value)
        if problem is not None:
            return f"{where}.{ai} {problem}"
    return None


@functools.lru_cache(maxsize=_CACHE_SIZE)
def _key_problem(ai: str, value: str) -> str | None:
    """Why ``value`` is not a valid key of ``ai`` (one of CHECKED_AIS), or None."""
    name, length = CHECKED_AIS[ai]
    if len(value) != length or not value.isascii() or not value.isdigit():
        return f"{value[:40]!r} is not a {name}: expected {length} digits"
    expected = mod10_check_digit(value[:-1])
    if int(value[-1]) != expected:
        return f"{value!r} has a wrong {name} check digit (expected {expected}, got {value[-1]})"
    return None
