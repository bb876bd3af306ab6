"""The names a synthetic video is specified by, free of heavy imports.

The command line offers these as choices, and it must load on a server that has neither
OpenCV nor zxing-cpp, so they live apart from the modules that draw.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["Level", "Symbology"]


class Symbology(StrEnum):
    """The label kinds the generator prints; the values are the ``mix`` keys."""

    GS1_DATAMATRIX = "gs1-datamatrix"
    GS1_QR_DIGITAL_LINK = "gs1-qr-digital-link"
    GS1_128_SSCC = "gs1-128-sscc"
    EAN_13 = "ean-13"


class Level(StrEnum):
    """How hard the footage is to read."""

    NONE = "none"
    LOW = "low"
    MEDIUM = "medium"
    HIGH = "high"
