"""Canonical values of the CBV 2.0 event hash: times in UTC with milliseconds, numbers.

The pre-hash writes every time as ``YYYY-MM-DDTHH:MM:SS.mmmZ`` (rounded half up at the
fourth decimal) and every number without trailing zeros, so one event hashes the same
whichever offset or precision a sender wrote it with.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta, tzinfo
from decimal import Decimal

__all__ = ["canonical_number", "canonical_time"]

_DATETIME = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)[Tt ](\d\d):(\d\d):(\d\d)(?:\.(\d+))?(Z|z|[+-]\d\d:?\d\d)?\Z"
)
# Event times are mostly new, but readings and declarations repeat within a document.
_CACHE_SIZE = 65_536


@functools.lru_cache(maxsize=_CACHE_SIZE)
def canonical_time(text: str) -> str:
    """``text`` (an xsd:dateTime) in UTC with exactly milliseconds and a ``Z``."""
    found = _DATETIME.match(text.strip())
    if found is None:
        return text
    year, month, day, hour, minute, second, fraction, offset = found.groups()
    # Runs for every event (event times are new: the cache misses), so no Decimal: half
    # up at the fourth digit is ROUND_HALF_UP's result; offsets come from a small table.
    millis = 0
    if fraction:
        millis = int((fraction + "00")[:3]) + (len(fraction) > 3 and fraction[3] >= "5")
    tz = UTC if offset is None or offset in ("Z", "z") else _zone(offset)
    moment = datetime(
        int(year), int(month), int(day), int(hour), int(minute), int(second), tzinfo=tz
    )
    moment = moment.astimezone(UTC)
    moment += timedelta(milliseconds=millis)  # .9996 rounds up into the next second
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{moment.microsecond // 1000:03d}Z"


@functools.lru_cache(maxsize=256)
def _zone(offset: str) -> tzinfo:
    """The zone of a ``+07:00`` / ``+0700`` offset (strptime's rules; its errors too)."""
    return datetime.strptime(offset.replace(":", ""), "%z").tzinfo or UTC


def canonical_number(value: float | Decimal) -> str:
    as_float = float(value)
    if as_float == int(as_float):
        return str(int(as_float))
    return str(as_float)
