"""Every text the pages show has a Vietnamese translation, with its placeholders kept.

The texts are found the way gettext tools find them (Babel's extractors over the
templates, the page scripts and the web modules), so a new ``_("...")`` or ``t("...")``
without a translation fails here, not in front of a Vietnamese operator.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po

from linetrace.central.web.i18n import LOCALES_DIR, catalogue

ROOT = Path(__file__).resolve().parents[3]
WEB = ROOT / "central" / "web"
# Texts shown from data rather than from a literal (roles, states, kinds).
DYNAMIC = ("operator", "auditor", "admin", "ok", "degraded", "down", "failing")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
_VIETNAMESE_LETTER = re.compile(
    r"[àáảãạăằắẳẵặâầấẩẫậèéẻẽẹêềếểễệìíỉĩịòóỏõọôồốổỗộơờớởỡợùúủũụưừứửữựỳýỷỹỵđ]", re.IGNORECASE
)


def _used_messages() -> set[str]:
    method_map = [
        ("**/templates/**.html", "jinja2"),
        ("**/static/**.js", "javascript"),
        ("**.py", "python"),
    ]
    options = {"**/templates/**.html": {"extensions": "jinja2.ext.i18n"}}
    keywords = {"_": None, "gettext": None, "ngettext": (1, 2), "t": None}
    found: set[str] = set()
    for _file, _line, message, _comments, _context in extract_from_dir(
        str(WEB), method_map, options, keywords=keywords
    ):
        found.update(m for m in (message if isinstance(message, tuple) else (message,)) if m)
    return found


USED = sorted(_used_messages())


def test_the_pages_use_translatable_texts() -> None:
    # The extractors found the pages' texts at all (a broken mapping would pass vacuously).
    assert {"Live events", "Sign out", "Skip to content"} <= set(USED)


@pytest.mark.parametrize("message", [*USED, *DYNAMIC])
def test_every_text_has_a_vietnamese_translation(message: str) -> None:
    vietnamese = catalogue("vi")
    assert message in vietnamese, f"no Vietnamese for {message!r}: add it to a locales/vi .po file"
    assert set(_PLACEHOLDER.findall(vietnamese[message])) == set(_PLACEHOLDER.findall(message))


def test_catalogues_are_well_formed_and_agree() -> None:
    """No fuzzy entries, no empty translations, one translation per text across areas,
    and Vietnamese written with its diacritics (not stripped to ASCII)."""
    seen: dict[str, tuple[str, str]] = {}
    problems = []
    files = sorted((LOCALES_DIR / "vi" / "LC_MESSAGES").glob("*.po"))
    assert files
    with_diacritics = 0
    for path in files:
        with path.open("rb") as handle:
            for message in read_po(handle, locale="vi"):
                if not message.id:
                    continue
                text = message.string if isinstance(message.string, str) else ""
                if message.fuzzy or not text:
                    problems.append(f"{path.name}: {message.id!r} fuzzy or empty")
                    continue
                with_diacritics += bool(_VIETNAMESE_LETTER.search(text))
                earlier = seen.setdefault(str(message.id), (text, path.name))
                if earlier[0] != text:
                    problems.append(f"{message.id!r}: {earlier[1]} and {path.name} disagree")
    assert not problems, "\n".join(problems)
    assert with_diacritics >= len(seen) // 2, "Vietnamese without its diacritics?"
