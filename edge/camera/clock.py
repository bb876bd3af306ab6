"""The station's time zone: every ``observed_at`` carries the station's UTC offset.

Kept apart from the capture code so that configuration and the command line can read an
offset without loading OpenCV.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone, tzinfo

__all__ = ["parse_utc_offset", "station_timezone"]

_OFFSET = re.compile(r"^(?P<sign>[+-])(?P<hours>\d{2}):?(?P<minutes>\d{2})$")


def station_timezone(utc_offset: timedelta | tzinfo | None) -> tzinfo:
    """The station's time zone: an offset, a zone, or this machine's local zone."""
    if utc_offset is None:
        local = datetime.now().astimezone().tzinfo
        return local if local is not None else UTC
    if isinstance(utc_offset, timedelta):
        return timezone(utc_offset)
    return utc_offset


def parse_utc_offset(text: str) -> timezone:
    """``+07:00``, ``-0330``, ``Z`` or ``UTC`` as a fixed-offset time zone."""
    if text.strip().upper() in ("Z", "UTC"):
        return UTC
    match = _OFFSET.match(text.strip())
    if match is None:
        raise ValueError(f"UTC offset {text!r} is not of the form +HH:MM or -HH:MM")
    hours, minutes = int(match["hours"]), int(match["minutes"])
    if hours > 23 or minutes > 59:
        raise ValueError(f"UTC offset {text!r} is out of range (-23:59 to +23:59)")
    sign = -1 if match["sign"] == "-" else 1
    return timezone(sign * timedelta(hours=hours, minutes=minutes))
