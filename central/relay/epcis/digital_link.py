"""GS1 Digital Link URIs: the ones we write, and the canonical form the event hash needs.

EPCIS 2.0 names things by GS1 Digital Link (``https://id.gs1.org/01/{gtin}/21/{serial}``).
Two jobs live here:

- *building* the links our events carry (item, lot, SSCC, location), from keys that
  :mod:`linetrace.gs1` already checked; values are percent-encoded so the link is a valid
  URI for any GS1 character-set-82 serial or lot (``/`` in a lot becomes ``%2F``);
- *canonicalising* any identifier an event may hold, as CBV 2.0's event hash requires:
  EPC URNs (``urn:epc:id:sgtin:…``, ``urn:epc:class:lgtin:…``, ``urn:epc:idpat:…``) become
  Digital Links with the check digit computed, a Digital Link on another domain or with
  short key names (``/gtin/``) is moved to ``https://id.gs1.org`` with numeric AIs, its
  query is dropped, a GTIN is padded to 14 digits and only the finest-grained key is
  kept (``/10/{lot}`` is dropped when a ``/21/{serial}`` follows; ``/22/{cpv}`` goes).

The percent-encoding of values taken from an EPC URN follows the reference
implementation of the hash (the URN's own ``%XX`` escapes are kept and ``! ( ) * + , :``
are encoded), so an event sent with URNs and the same event sent with Digital Links
hash alike.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from urllib.parse import quote

from linetrace.gs1 import check_digit

__all__ = [
    "GS1_RESOLVER",
    "canonical_digital_link",
    "gln_link",
    "gtin_link",
    "gtin_lot_link",
    "gtin_serial_link",
    "sscc_link",
]

GS1_RESOLVER = "https://id.gs1.org"
# An EPC URN's parts (split at its dots) -> the Digital Link path, or None if malformed.
_Converter = Callable[[list[str]], "str | None"]
# Characters left as they are in a value we write into a link: letters, digits, "-._~"
# (always safe) and the path sub-delimiters the reference URN conversion leaves alone.
_SAFE_IN_VALUE = "';="
# Identifiers canonicalised per process: readPoints, bizSteps and GTINs repeat in every
# event of a line; serials do not, so the table is bounded and cycles through them.
_CACHE_SIZE = 65_536


def _value(text: str) -> str:
    if text.isascii() and text.isalnum():  # most serials and lots: nothing to encode
        return text
    return quote(text, safe=_SAFE_IN_VALUE)


def gtin_serial_link(gtin14: str, serial: str) -> str:
    """The Digital Link of one serialised item (SGTIN): ``…/01/{gtin}/21/{serial}``."""
    return f"{GS1_RESOLVER}/01/{gtin14}/21/{_value(serial)}"


def gtin_lot_link(gtin14: str, lot: str) -> str:
    """The Digital Link of a lot of a product (LGTIN): ``…/01/{gtin}/10/{lot}``."""
    return f"{GS1_RESOLVER}/01/{gtin14}/10/{_value(lot)}"


def gtin_link(gtin14: str) -> str:
    """The Digital Link of a product class without lot: ``…/01/{gtin}``."""
    return f"{GS1_RESOLVER}/01/{gtin14}"


def sscc_link(sscc: str) -> str:
    """The Digital Link of a logistic unit: ``…/00/{sscc}``."""
    return f"{GS1_RESOLVER}/00/{sscc}"


def gln_link(gln: str, extension: str | None = None) -> str:
    """The Digital Link of a location (SGLN): ``…/414/{gln}`` plus ``/254/{ext}`` if any."""
    if extension is None or extension == "" or extension == "0":
        return f"{GS1_RESOLVER}/414/{gln}"
    return f"{GS1_RESOLVER}/414/{gln}/254/{_value(extension)}"


# --- canonicalisation --------------------------------------------------------------


def _urn_value(text: str) -> str:
    """An EPC URN component as a Digital Link value (see the module docstring)."""
    for char, escaped in (("!", "%21"), ("(", "%28"), (")", "%29"), ("*", "%2A"), ("+", "%2B")):
        text = text.replace(char, escaped)
    return text.replace(",", "%2C").replace(":", "%3A")


def _with_check(digits: str) -> str:
    return digits + str(check_digit(digits))


def _gtin(company: str, reference: str) -> str | None:
    """GTIN-14 from an EPC company prefix and item reference (indicator digit first)."""
    if (
        len(company) + len(reference) != 13
        or not (company + reference).isdigit()
        or len(company) < 6
    ):
        return None
    return _with_check(reference[0] + company + reference[1:])


def _fixed(company: str, reference: str, total: int) -> str | None:
    """Company prefix + reference of ``total`` digits, with its check digit appended."""
    digits = company + reference
    if len(digits) != total or not digits.isdigit() or len(company) < 6:
        return None
    return _with_check(digits)


def _keyed(ai: str, total: int, *, prefix: str = "") -> _Converter:
    """GRAI, GDTI, SGCN: a fixed key with a check digit, then the serial (if any) appended."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) not in (2, 3):
            return None
        key = _fixed(parts[0], parts[1], total)
        if key is None:
            return None
        serial = _urn_value(parts[2]) if len(parts) == 3 else ""
        return f"/{ai}/{prefix}{key}{serial}"

    return convert


def _plain(ai: str) -> _Converter:
    """GIAI, GINC: company prefix and reference, no check digit."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1]:
            return None
        return f"/{ai}/{parts[0]}{_urn_value(parts[1])}"

    return convert


def _numbered(ai: str, total: int) -> _Converter:
    """GSRN, GSRN-P, GSIN, PGLN: all-digit keys with a check digit."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) != 2:
            return None
        key = _fixed(parts[0], parts[1], total)
        return None if key is None else f"/{ai}/{key}"

    return convert


def _cpi(parts: list[str]) -> str | None:
    if len(parts) not in (2, 3) or not parts[0].isdigit():
        return None
    serial = f"/8011/{parts[2]}" if len(parts) == 3 else ""
    return f"/8010/{parts[0]}{_urn_value(parts[1])}{serial}"


def _itip(parts: list[str]) -> str | None:
    if len(parts) not in (4, 5):
        return None
    gtin = _gtin(parts[0], parts[1])
    if gtin is None:
        return None
    serial = f"/21/{_urn_value(parts[4])}" if len(parts) == 5 else ""
    return f"/8006/{gtin}{parts[2]}{parts[3]}{serial}"


def _gtin_keyed(qualifier: str) -> _Converter:
    """SGTIN (``/21/``), UPUI (``/235/``), LGTIN (``/10/``); the bare GTIN for a pattern."""

    def convert(parts: list[str]) -> str | None:
        if len(parts) not in (2, 3):
            return None
        gtin = _gtin(parts[0], parts[1])
        if gtin is None:
            return None
        return (
            f"/01/{gtin}" if len(parts) == 2 else f"/01/{gtin}/{qualifier}/{_urn_value(parts[2])}"
        )

    return convert


def _sscc(parts: list[str]) -> str | None:
    if len(parts) != 2 or len(parts[0]) + len(parts[1]) != 17 or not "".join(parts).isdigit():
        return None
    return f"/00/{_with_check(parts[1][0] + parts[0] + parts[1][1:])}"


def _sgln(parts: list[str]) -> str | None:
    if len(parts) != 3:
        return None
    gln = _fixed(parts[0], parts[1], 12)
    if gln is None:
        return None
    return f"/414/{gln}" if parts[2] in ("", "0") else f"/414/{gln}/254/{_urn_value(parts[2])}"


# scheme -> (converter, dots that separate fixed parts; a serial after them may hold dots)
_URN_IDS: dict[str, tuple[_Converter, int]] = {
    "sgtin": (_gtin_keyed("21"), 2),
    "sscc": (_sscc, 1),
    "sgln": (_sgln, 2),
    "grai": (_keyed("8003", 12, prefix="0"), 2),
    "giai": (_plain("8004"), 1),
    "gsrn": (_numbered("8018", 17), 1),
    "gsrnp": (_numbered("8017", 17), 1),
    "gdti": (_keyed("253", 12), 2),
    "cpi": (_cpi, 2),
    "sgcn": (_keyed("255", 12), 2),
    "ginc": (_plain("401"), 1),
    "gsin": (_numbered("402", 16), 1),
    "itip": (_itip, 4),
    "upui": (_gtin_keyed("235"), 2),
    "pgln": (_numbered("417", 12), 1),
}
_URN_CLASSES: dict[str, tuple[_Converter, int]] = {"lgtin": (_gtin_keyed("10"), 2)}
# An ID pattern ends in ".*": the class key is what precedes it.
_URN_PATTERNS: dict[str, _Converter] = {
    scheme: _URN_IDS[scheme][0]
    for scheme in ("sgtin", "upui", "grai", "gdti", "sgcn", "cpi", "itip")
}


def _from_urn(value: str) -> str | None:
    head, _, body = value.rpartition(":")
    kind, _, scheme = head[len("urn:epc:") :].partition(":")
    if kind == "idpat":
        pattern = _URN_PATTERNS.get(scheme)
        if pattern is None or not body.endswith(".*"):
            return None
        return pattern(body[:-2].split("."))
    entry = (_URN_IDS if kind == "id" else _URN_CLASSES if kind == "class" else {}).get(scheme)
    if entry is None:
        return None
    convert, dots = entry
    return convert(body.split(".", dots))


# Digital Link primary keys: AI -> short name, and the syntax of the key value.
_PRIMARY = {
    "00": r"\d{18}",
    "01": r"\d{8}|\d{12,14}",
    "253": r"\d{13}[^/]{0,17}",
    "255": r"\d{13}\d{0,12}",
    "401": r"[^/]{1,30}",
    "402": r"\d{17}",
    "414": r"\d{13}",
    "417": r"\d{13}",
    "8003": r"\d{14}[^/]{0,16}",
    "8004": r"[^/]{1,30}",
    "8006": r"\d{18}",
    "8010": r"[^/]{1,30}",
    "8017": r"\d{18}",
    "8018": r"\d{18}",
}
_SHORT_NAMES = {
    "gtin": "01", "itip": "8006", "cpid": "8010", "gln": "414", "party": "417", "gsrnp": "8017",
    "gsrn": "8018", "gcn": "255", "sscc": "00", "gdti": "253", "ginc": "401", "gsin": "402",
    "grai": "8003", "giai": "8004", "cpv": "22", "lot": "10", "ser": "21",
}  # fmt: skip
_PRIMARY_PATTERNS = {ai: re.compile(f"(?:{syntax})\\Z") for ai, syntax in _PRIMARY.items()}


# Links already in canonical form, as we write them (a serialised item, a lot, a product,
# an SSCC): the rules below give them back unchanged, and item links are new in every
# event, so the table never spares their parsing.
_ALREADY_CANONICAL = re.compile(
    r"https://id\.gs1\.org/(?:01/\d{14}(?:/(?:10|21)/[^/?#]+)?|00/\d{18})\Z"
)


def _canonical_link(uri: str) -> str | None:
    if _ALREADY_CANONICAL.match(uri):
        return uri
    rest = uri.split("://", 1)[1]
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    segments = [s for s in rest.split("/")[1:] if s != ""]
    # Short names (gtin, lot, ser ...) are read in key positions only: a serial may be "cpv".
    for start, name in enumerate(segments):
        ai = _SHORT_NAMES.get(name, name)
        pattern = _PRIMARY_PATTERNS.get(ai)
        if pattern is None or start + 1 >= len(segments):
            continue
        value = segments[start + 1]
        # Every GS1 key starts with a company prefix: "…/cpid/0" in some other URI is no key.
        if len(value) >= 4 and value[:4].isdigit() and pattern.match(value):
            break
    else:
        return None
    key = segments[start + 1]
    if ai == "01":
        key = key.zfill(14)
    names = [_SHORT_NAMES.get(name, name) for name in segments[start + 2 :: 2]]
    qualifiers = dict(zip(names, segments[start + 3 :: 2], strict=False))
    qualifiers.pop("22", None)
    if "21" in qualifiers:
        qualifiers.pop("10", None)
    tail = "".join(f"/{q}/{v}" for q, v in qualifiers.items())
    return f"{GS1_RESOLVER}/{ai}/{key}{tail}"


@functools.lru_cache(maxsize=_CACHE_SIZE)
def canonical_digital_link(value: str) -> str | None:
    """``value`` as a canonical GS1 Digital Link, or None when it names no GS1 key.

    Accepts EPC URNs (id, class and id-pattern) and Digital Links on any domain.
    """
    if value.startswith("urn:epc:"):
        path = _from_urn(value)
        return None if path is None else GS1_RESOLVER + path
    if value.startswith(("https://", "http://")):
        return _canonical_link(value)
    return None
