"""Vietnamese and English for the pages: gettext catalogues, and who gets which language.

English is the source language (the msgids); Vietnamese lives in catalogue files,
``locales/vi/LC_MESSAGES/<area>.po``, one per area of the pages so that each area's
translations are edited and reviewed apart. They are read with Babel at first use and
merged; an untranslated or fuzzy entry falls back to the English text (and the catalogue
test fails on it, so none ships).
"""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import TYPE_CHECKING

from babel.messages.pofile import read_po

if TYPE_CHECKING:
    from starlette.requests import Request

    from linetrace.central.config import CentralSettings

__all__ = [
    "LANGUAGE_COOKIE",
    "LOCALES_DIR",
    "Translator",
    "catalogue",
    "choose_language",
    "locale_tag",
    "translator",
]

LOCALES_DIR = Path(__file__).with_name("locales")
LANGUAGE_COOKIE = "linetrace_lang"
# Babel / Intl locale per language: British English orders dates day first, as Vietnam does.
_LOCALE_TAGS = {"vi": "vi-VN", "en": "en-GB"}


def locale_tag(language: str) -> str:
    """The BCP 47 tag the browser formats numbers and dates with."""
    return _LOCALE_TAGS.get(language, "en-GB")


@cache
def catalogue(language: str) -> dict[str, str]:
    """msgid -> translation for ``language``, every area merged; empty for English."""
    messages: dict[str, str] = {}
    folder = LOCALES_DIR / language / "LC_MESSAGES"
    for path in sorted(folder.glob("*.po")):
        with path.open("rb") as handle:
            for message in read_po(handle, locale=language):
                if not message.id or message.fuzzy or not isinstance(message.id, str):
                    continue
                if isinstance(message.string, str) and message.string:
                    messages[message.id] = message.string
    return messages


class Translator:
    """gettext for one language, as Jinja's i18n extension calls it."""

    def __init__(self, language: str) -> None:
        self.language = language
        self.messages = catalogue(language)

    def gettext(self, message: str) -> str:
        return self.messages.get(message, message)

    def ngettext(self, singular: str, plural: str, count: int) -> str:
        # Vietnamese has one form; English picks by count. Catalogues key on the singular.
        text = singular if count == 1 or self.language == "vi" else plural
        return self.messages.get(text, text)


@cache
def translator(language: str) -> Translator:
    return Translator(language)


def choose_language(request: Request, settings: CentralSettings, site: str | None = None) -> str:
    """The person's own choice, then the cookie, then the site's, then the browser's
    (Vietnamese or English only), then the configured default."""
    principal = getattr(request.state, "principal", None)
    chosen = getattr(principal, "language", None)
    if chosen in _LOCALE_TAGS:
        return str(chosen)
    cookie = request.cookies.get(LANGUAGE_COOKIE)
    if cookie in _LOCALE_TAGS:
        return cookie
    if site is not None and site in settings.sites:
        return settings.sites[site].language
    if len(settings.sites) == 1:
        return next(iter(settings.sites.values())).language
    for part in request.headers.get("accept-language", "").split(","):
        tag = part.split(";")[0].strip().lower()[:2]
        if tag in _LOCALE_TAGS:
            return tag
    return settings.web.default_language
