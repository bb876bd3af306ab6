"""The barcode formats this project speaks and the decoder backends that read them.

Kept apart from the backends (which need numpy and native libraries) so that the
settings can check a configured format list without importing a decoder.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Literal

from linetrace.errors import LinetraceError

__all__ = [
    "DEFAULT_FORMATS",
    "FORMATS",
    "LINEAR_FORMATS",
    "Backend",
    "DecoderError",
    "check_formats",
    "zbar_defaults",
]

Backend = Literal["zxing", "zbar"]

# The format names this project speaks (zxing-cpp's BarcodeFormat names), each with
# zbar's name for it, or None where zbar cannot read it.
FORMATS: dict[str, str | None] = {
    "DataMatrix": None,
    "QRCode": "QRCODE",
    "MicroQRCode": None,
    "Aztec": None,
    "PDF417": "PDF417",
    "Code128": "CODE128",
    "Code39": "CODE39",
    "Code93": "CODE93",
    "Codabar": "CODABAR",
    "EAN13": "EAN13",
    "EAN8": "EAN8",
    "UPCA": "UPCA",
    "UPCE": "UPCE",
    "ITF": "I25",
    "ITF14": "I25",
    "DataBar": "DATABAR",
    "DataBarExp": "DATABAR_EXP",
}

# The symbologies that carry GS1 data on packaging. Restricting the decoder to them is
# faster and stops false reads of symbologies no label on the line uses (ITF14 rather
# than ITF: plain interleaved 2 of 5 of any length mis-reads printed text and textures).
DEFAULT_FORMATS: tuple[str, ...] = (
    "DataMatrix",
    "QRCode",
    "Code128",
    "EAN13",
    "EAN8",
    "UPCA",
    "UPCE",
    "ITF14",
    "DataBar",
    "DataBarExp",
)

# The formats read along scan lines: a single frame's read of one of these can be a misread
# whose check digit happens to fit, so a passage needs a second agreeing frame; and a turned
# label defeats them unless it is turned upright first (see locate.rectify).
LINEAR_FORMATS = frozenset(
    {
        "Code128",
        "Code39",
        "Code93",
        "Codabar",
        "EAN13",
        "EAN8",
        "UPCA",
        "UPCE",
        "ITF",
        "ITF14",
        "DataBar",
        "DataBarExp",
    }
)


class DecoderError(LinetraceError, ValueError):
    """A decoder backend that cannot start or was asked for what it cannot do."""


def check_formats(backend: Backend, formats: Collection[str]) -> tuple[str, ...]:
    """``formats`` in their canonical spelling, or :class:`DecoderError` naming the bad one."""
    canonical = {name.lower(): name for name in FORMATS}
    chosen: list[str] = []
    for name in formats:
        known = canonical.get(name.lower())
        if known is None:
            raise DecoderError(
                f"unknown barcode format {name!r}; known formats: {', '.join(FORMATS)}"
            )
        if backend == "zbar" and FORMATS[known] is None:
            raise DecoderError(f"the zbar backend cannot read {known}; use the zxing backend")
        if known not in chosen:
            chosen.append(known)
    if not chosen:
        raise DecoderError("no barcode formats chosen")
    return tuple(chosen)


def zbar_defaults() -> tuple[str, ...]:
    """The default formats zbar can read."""
    return tuple(name for name in DEFAULT_FORMATS if FORMATS[name] is not None)
