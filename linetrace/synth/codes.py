"""Seeded GS1 data for synthetic labels: what each label encodes, not how it looks.

A plant packs a few products, each in one production lot, and serialises every unit, so
the generator works from a small catalogue: a video shows the same GTINs and lots again
and again with rising serial numbers, as a camera on a real packing line would.
Check digits come from ``biip`` (GS1 General Specifications, section 7.9.1).
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import date, timedelta

from biip.checksums import gs1_standard_check_digit

from linetrace.synth.kinds import Symbology

__all__ = [
    "VIETNAM_GS1_PREFIX",
    "CodeFactory",
    "LabelData",
    "Product",
    "Symbology",
    "digital_link",
    "with_check_digit",
]

# GS1 Vietnam's prefix: the footage imitates a Vietnamese plant, whose codes start 893.
VIETNAM_GS1_PREFIX = "893"
# Four digits after the prefix make a 7-digit GS1 company prefix, the common size GS1
# Vietnam allocates; the rest of a GTIN-13 is the item reference.
_COMPANY_DIGITS = 4
# Expiry dates count from this fixed day, never from today, so a seed gives the same data
# whenever it runs; one to three years ahead is the usual shelf life of packed goods.
REFERENCE_DATE = date(2026, 1, 1)
_SHELF_LIFE_DAYS = (365, 3 * 365)
# A resolver any GS1 Digital Link reader understands; brand domains work the same way.
DIGITAL_LINK_HOST = "https://id.gs1.org"
# Few products per video: a line packs one or two batches at a time, and repeated GTINs
# and lots are what the trace and batch checks downstream must group.
DEFAULT_PRODUCTS = 3


def with_check_digit(payload: str) -> str:
    """``payload`` followed by its GS1 mod-10 check digit."""
    return payload + str(gs1_standard_check_digit(payload))


def digital_link(gtin14: str, lot: str, serial: str, expiry: str) -> str:
    """A GS1 Digital Link URI: GTIN, lot and serial in the path, expiry as a query."""
    return f"{DIGITAL_LINK_HOST}/01/{gtin14}/10/{lot}/21/{serial}?17={expiry}"


@dataclass(frozen=True)
class Product:
    """One product in one production lot, as a line packs it."""

    gtin13: str
    pack_gtin14: str  # the inner pack: indicator digit 1-8 over the same item reference
    lot: str
    expiry: str  # YYMMDD, AI (17)


@dataclass(frozen=True)
class LabelData:
    """What one label encodes.

    ``text`` is both what the encoder is given and what zxing-cpp returns with its
    default (HRI) text mode; ``gs1`` maps each Application Identifier to its value.
    """

    symbology: Symbology
    text: str
    gs1: dict[str, str]


class CodeFactory:
    """Valid GS1 identifiers from one seed: same seed, same sequence."""

    def __init__(self, seed: int, products: int = DEFAULT_PRODUCTS) -> None:
        if products < 1:
            raise ValueError(f"products must be at least 1, got {products}")
        self._rng = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
        self._company_prefix = VIETNAM_GS1_PREFIX + self._digits(_COMPANY_DIGITS)
        self._next_serial = self._rng.randrange(1, 500_000)
        self._next_sscc = self._rng.randrange(1, 1_000_000)
        self.products = tuple(self._product() for _ in range(products))

    def _digits(self, count: int) -> str:
        return "".join(self._rng.choice("0123456789") for _ in range(count))

    def gtin13(self) -> str:
        """A GTIN-13 under the factory's Vietnamese company prefix."""
        reference = self._digits(12 - len(self._company_prefix))
        return with_check_digit(self._company_prefix + reference)

    def gtin14(self, gtin13: str | None = None) -> str:
        """A GTIN-14 for a pack of ``gtin13`` (or of a new item): indicator 1-8."""
        base = gtin13 or self.gtin13()
        indicator = str(self._rng.randint(1, 8))
        return with_check_digit(indicator + base[:12])

    def lot(self) -> str:
        """A lot number in the common ``L``-year-month-shift style, e.g. ``L2611A3``."""
        year = self._rng.randint(25, 26)
        month = self._rng.randint(1, 12)
        shift = self._rng.choice("ABC")
        return f"L{year:02d}{month:02d}{shift}{self._rng.randint(1, 9)}"

    def expiry(self) -> str:
        """An expiry date (YYMMDD) one to three years after the reference date."""
        day = REFERENCE_DATE + timedelta(days=self._rng.randint(*_SHELF_LIFE_DAYS))
        return day.strftime("%y%m%d")

    def serial(self) -> str:
        """The next serial number: unique within the factory, eight digits."""
        value = self._next_serial
        self._next_serial += 1
        return f"{value:08d}"

    def sscc(self) -> str:
        """The next SSCC-18: extension digit, company prefix, serial reference, check."""
        extension = str(self._rng.randint(0, 9))
        reference_digits = 17 - 1 - len(self._company_prefix)
        reference = f"{self._next_sscc:0{reference_digits}d}"
        self._next_sscc += 1
        return with_check_digit(extension + self._company_prefix + reference)

    def _product(self) -> Product:
        gtin13 = self.gtin13()
        return Product(
            gtin13=gtin13, pack_gtin14=self.gtin14(gtin13), lot=self.lot(), expiry=self.expiry()
        )

    def label_data(self, symbology: Symbology) -> LabelData:
        """The data for the next label of ``symbology``, from a random catalogue product."""
        product = self._rng.choice(self.products)
        if symbology is Symbology.EAN_13:
            return LabelData(symbology, product.gtin13, {"01": "0" + product.gtin13})
        if symbology is Symbology.GS1_128_SSCC:
            sscc = self.sscc()
            return LabelData(symbology, f"(00){sscc}", {"00": sscc})
        gtin14 = self._rng.choice(("0" + product.gtin13, product.pack_gtin14))
        serial = self.serial()
        gs1 = {"01": gtin14, "17": product.expiry, "10": product.lot, "21": serial}
        if symbology is Symbology.GS1_QR_DIGITAL_LINK:
            text = digital_link(gtin14, product.lot, serial, product.expiry)
            return LabelData(symbology, text, gs1)
        text = "".join(f"({ai}){value}" for ai, value in gs1.items())
        return LabelData(symbology, text, gs1)
