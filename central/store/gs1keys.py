"""The GS1 keys central indexes, pulled out of an event's ``gs1`` map.

Only values in the format the GS1 General Specifications give their Application
Identifier become columns: a malformed value stays in the stored payload, but is not
indexed as if it were a key (and cannot overflow the column).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from linetrace.gs1 import LOT_PATTERN, SERIAL_PATTERN

__all__ = ["GS1_KEY_AIS", "Gs1Keys", "extract_keys"]

# AI -> (column, format): N18, N14, X..20, X..20, N6 as in the GS1 General Specifications.
GS1_KEY_AIS: dict[str, tuple[str, re.Pattern[str]]] = {
    "00": ("sscc", re.compile(r"^[0-9]{18}$")),
    "01": ("gtin", re.compile(r"^[0-9]{14}$")),
    "10": ("lot", LOT_PATTERN),
    "21": ("serial", SERIAL_PATTERN),
    "17": ("expiry", re.compile(r"^[0-9]{6}$")),
}


@dataclass(frozen=True, slots=True)
class Gs1Keys:
    """The indexed keys of one event, and the AIs whose values were malformed."""

    sscc: str | None = None
    gtin: str | None = None
    lot: str | None = None
    serial: str | None = None
    expiry: str | None = None
    malformed: tuple[str, ...] = ()

    def columns(self) -> dict[str, str | None]:
        return {
            "sscc": self.sscc,
            "gtin": self.gtin,
            "lot": self.lot,
            "serial": self.serial,
            "expiry": self.expiry,
        }


def extract_keys(gs1: Mapping[str, str] | None) -> Gs1Keys:
    """The key columns for ``gs1``; malformed values are left out and named."""
    if not gs1:
        return Gs1Keys()
    found: dict[str, str] = {}
    malformed: list[str] = []
    for ai, (column, pattern) in GS1_KEY_AIS.items():
        value = gs1.get(ai)
        if value is None:
            continue
        if pattern.match(value):
            found[column] = value
        else:
            malformed.append(ai)
    return Gs1Keys(**found, malformed=tuple(malformed))
