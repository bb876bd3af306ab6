"""Times and numbers written on the server (printed reports, CSV headers) as the pages'
scripts write them: in the site's time zone with its offset, in the person's locale."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo

from babel.dates import format_datetime
from babel.numbers import format_decimal

if TYPE_CHECKING:
    from linetrace.central.config import CentralSettings

__all__ = ["format_number", "format_time", "time_zone_of"]

_BABEL_LOCALES = {"vi": "vi_VN", "en": "en_GB"}


def time_zone_of(settings: CentralSettings, site: str | None) -> ZoneInfo:
    if site is not None and site in settings.sites:
        return ZoneInfo(settings.sites[site].time_zone)
    return ZoneInfo(settings.web.default_time_zone)


def format_time(
    moment: datetime, *, settings: CentralSettings, language: str, site: str | None = None
) -> str:
    """e.g. ``05/12/2026 14:03:07 (UTC+07:00)``; a naive time is taken as UTC."""
    zone = time_zone_of(settings, site)
    local = (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(zone)
    text = format_datetime(
        local, "dd/MM/yyyy HH:mm:ss", locale=_BABEL_LOCALES.get(language, "en_GB")
    )
    return f"{text} (UTC{local.strftime('%z')[:3]}:{local.strftime('%z')[3:]})"


def format_number(value: float, *, language: str) -> str:
    """Grouped as the locale groups: 1.234.567 in Vietnamese, 1,234,567 in English."""
    return format_decimal(value, locale=_BABEL_LOCALES.get(language, "en_GB"))
