"""Decoder backends: one image in, the symbols found in it out.

Every backend sits behind :class:`Decoder`, whose ``decode`` is a pure function of the
image, so decoding can move to worker processes without the rest of the pipeline
noticing. zxing-cpp is the default: it reads every GS1 carrier, reports the ISO/IEC
15424 symbology identifier and tells GS1 content apart. zbar (through pyzbar) is the
second opinion for linear codes and QR; it cannot read Data Matrix.

Text mode is deliberate: both backends return the *plain* data, in which GS1 FNC1
separators appear as the GS character (0x1d) and no identifier prefix is added, which
is what a GS1 element-string parser needs and what the contract carries as ``text``.
zxing-cpp's default HRI mode ("(01)...") would throw the separators away.

Errors: :class:`DecoderError` (a backend that cannot start, e.g. a missing native
library, or formats it cannot read) and :class:`ImageError` (an image no backend can
take); both are ``ValueError``\\ s with a message an operator can act on.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal, Protocol

import numpy as np

from linetrace.edge.vision.formats import (
    DEFAULT_FORMATS,
    FORMATS,
    DecoderError,
    check_formats,
    zbar_defaults,
)
from linetrace.errors import LinetraceError

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = [
    "Binarizer",
    "Decoder",
    "DecoderName",
    "ImageError",
    "Point",
    "Symbol",
    "ZbarDecoder",
    "ZxingDecoder",
    "error_correction_used",
]

logger = logging.getLogger(__name__)

Point = tuple[int, int]
# How zxing-cpp turns grey into black and white: "local" thresholds each pixel against its
# neighbourhood (uneven light); "fixed" at mid-grey, which keeps the faint narrow elements
# of an image already stretched to full contrast that a local threshold flattens; "global"
# at a threshold from the whole image's histogram, the one the frame reader never uses, so
# a second read with it is an independent look (see linetrace.edge.vision.second_read).
Binarizer = Literal["local", "fixed", "global"]
DecoderName = Literal["zxing", "zbar"]

LIBZBAR_HINT = "install the zbar library (Debian/Ubuntu: apt-get install libzbar0)"


class ImageError(LinetraceError, ValueError):
    """An image a decoder cannot take (wrong type, shape or size)."""


@dataclass(frozen=True, slots=True)
class Symbol:
    """One decoded symbol in one image.

    ``symbology_id`` is the ISO/IEC 15424 identifier (``]d2`` is GS1 Data Matrix,
    ``]Q1`` plain QR); ``gs1`` says the symbol itself declares GS1 content (FNC1 in
    first position), which is what makes its text a GS1 element string.
    """

    symbology: str
    symbology_id: str | None
    text: str
    gs1: bool
    corners: tuple[Point, Point, Point, Point]  # top-left, top-right, bottom-right, bottom-left
    orientation: int | None = None  # degrees clockwise in (-180, 180], None when unknown
    # Share of the symbol's error correction this read spent, 0..1; None where the
    # symbology has none (linear codes) or the backend does not report it (zbar).
    ec_used: float | None = None
    # The backend that read it: a second read by the same backend on the same pixels
    # would only repeat it (see linetrace.edge.vision.second_read).
    decoder: DecoderName = "zxing"

    @property
    def key(self) -> tuple[str, str]:
        """What makes two reads the same code: symbology and text."""
        return (self.symbology, self.text)

    @property
    def centre(self) -> tuple[float, float]:
        """The middle of the symbol, in image pixels."""
        xs, ys = zip(*self.corners, strict=True)
        return (sum(xs) / 4.0, sum(ys) / 4.0)

    @property
    def size(self) -> float:
        """The longer diagonal, in pixels: how far apart two different symbols must be."""
        (x0, y0), (x1, y1), (x2, y2), (x3, y3) = self.corners
        return max(math.hypot(x2 - x0, y2 - y0), math.hypot(x3 - x1, y3 - y1), 1.0)


class Decoder(Protocol):
    """A backend: finds and decodes every symbol in an image."""

    def decode(self, image: Image) -> list[Symbol]:
        """The symbols in ``image`` (BGR or grayscale, uint8), in no particular order."""
        ...


def _check_image(image: Any) -> None:
    shape = getattr(image, "shape", None)
    dtype = str(getattr(image, "dtype", ""))
    if shape is None or dtype != "uint8":
        raise ImageError(f"expected a uint8 numpy image, got {type(image).__name__} {dtype}")
    if len(shape) not in (2, 3) or (len(shape) == 3 and shape[2] not in (1, 3)):
        raise ImageError(f"expected a grayscale or BGR image, got shape {shape}")
    if shape[0] == 0 or shape[1] == 0:
        raise ImageError(f"empty image of shape {shape}")


class ZxingDecoder:
    """zxing-cpp: every GS1 carrier, with symbology identifiers and GS1 detection."""

    def __init__(
        self,
        formats: Collection[str] = DEFAULT_FORMATS,
        *,
        try_rotate: bool = True,
        try_invert: bool = False,
        try_downscale: bool = True,
        binarizer: Binarizer = "local",
    ) -> None:
        import zxingcpp

        self._zxing = zxingcpp
        chosen = check_formats("zxing", formats)
        # zxing-cpp 3 reads a whole family for one name (QRCode also finds Micro QR and
        # rMQR): a family member this project names apart and was not asked for is
        # dropped, or a worn QR code could come back as a short Micro QR misread.
        self._unwanted = frozenset(FORMATS) - frozenset(chosen)
        self._formats = zxingcpp.BarcodeFormats(
            [zxingcpp.barcode_format_from_str(name) for name in chosen]
        )
        self._try_rotate = try_rotate
        self._try_invert = try_invert
        self._try_downscale = try_downscale
        self._binarizer = {
            "fixed": zxingcpp.Binarizer.FixedThreshold,
            "global": zxingcpp.Binarizer.GlobalHistogram,
        }.get(binarizer, zxingcpp.Binarizer.LocalAverage)

    def decode(self, image: Image) -> list[Symbol]:
        _check_image(image)
        found = self._zxing.read_barcodes(
            image,
            formats=self._formats,
            text_mode=self._zxing.TextMode.Plain,
            try_rotate=self._try_rotate,
            try_invert=self._try_invert,
            try_downscale=self._try_downscale,
            binarizer=self._binarizer,
        )
        return [
            self._symbol(barcode)
            for barcode in found
            if barcode.valid and barcode.format.name not in self._unwanted
        ]

    def _symbol(self, barcode: Any) -> Symbol:
        position = barcode.position
        corners = (
            _point(position.top_left),
            _point(position.top_right),
            _point(position.bottom_right),
            _point(position.bottom_left),
        )
        return Symbol(
            symbology=barcode.format.name,
            symbology_id=barcode.symbology_identifier or None,
            text=barcode.text,
            gs1=barcode.content_type == self._zxing.ContentType.GS1,
            corners=corners,
            orientation=int(barcode.orientation),
            ec_used=error_correction_used(barcode.extra),
        )


def _point(point: Any) -> Point:
    return (int(point.x), int(point.y))


# zbar reports no ISO/IEC 15424 identifiers, so they are derived from its symbol type
# and its GS1 modifier: (identifier without GS1, identifier with GS1, our format name).
_ZBAR_SYMBOLOGY: dict[str, tuple[str, str, str]] = {
    "QRCODE": ("]Q1", "]Q3", "QRCode"),
    "PDF417": ("]L2", "]L2", "PDF417"),
    "CODE128": ("]C0", "]C1", "Code128"),
    "CODE39": ("]A0", "]A0", "Code39"),
    "CODE93": ("]G0", "]G0", "Code93"),
    "CODABAR": ("]F0", "]F0", "Codabar"),
    "EAN13": ("]E0", "]E0", "EAN13"),
    "EAN8": ("]E4", "]E4", "EAN8"),
    "UPCA": ("]E0", "]E0", "UPCA"),
    "UPCE": ("]E0", "]E0", "UPCE"),
    "I25": ("]I0", "]I0", "ITF"),
    "DATABAR": ("]e0", "]e0", "DataBar"),
    "DATABAR_EXP": ("]e0", "]e0", "DataBarExp"),
}
# Symbologies whose data is GS1 by definition, whatever the modifier says.
_ZBAR_ALWAYS_GS1 = frozenset({"DATABAR", "DATABAR_EXP"})
_ZBAR_MOD_GS1 = 1 << 0  # enum zbar_modifier_e: ZBAR_MOD_GS1 = 0
_FOURCC_Y800 = 0x30303859  # 'Y800': 8-bit grayscale, the only layout zbar scans


class ZbarDecoder:
    """zbar through pyzbar's ctypes bindings; also reads zbar's GS1 modifier.

    pyzbar's ``decode`` drops the modifier that tells GS1-128 from plain Code 128, so
    the scan loop here calls the same bindings itself.
    """

    def __init__(self, formats: Collection[str] | None = None) -> None:
        try:
            from pyzbar import wrapper
        except ImportError as exc:
            raise DecoderError(f"the zbar backend is unavailable ({exc}): {LIBZBAR_HINT}") from exc
        from ctypes import POINTER, c_uint

        self._wrapper = wrapper
        self._get_modifiers = wrapper.zbar_function(
            "zbar_symbol_get_modifiers", c_uint, POINTER(wrapper.zbar_symbol)
        )
        chosen = check_formats("zbar", formats if formats is not None else zbar_defaults())
        self._symbols = sorted({wrapper.ZBarSymbol[str(FORMATS[name])] for name in chosen})

    def decode(self, image: Image) -> list[Symbol]:
        _check_image(image)
        gray = np.ascontiguousarray(_grayscale(image))
        height, width = gray.shape[:2]
        w = self._wrapper
        scanner = w.zbar_image_scanner_create()
        zimage = w.zbar_image_create()
        try:
            # Symbology 0 (ZBAR_NONE) addresses all of them: off first, then the chosen on.
            w.zbar_image_scanner_set_config(scanner, 0, w.ZBarConfig.CFG_ENABLE, 0)
            for symbol_type in self._symbols:
                w.zbar_image_scanner_set_config(scanner, symbol_type, w.ZBarConfig.CFG_ENABLE, 1)
            w.zbar_image_set_format(zimage, _FOURCC_Y800)
            w.zbar_image_set_size(zimage, width, height)
            w.zbar_image_set_data(zimage, gray.ctypes.data, gray.size, None)
            if w.zbar_scan_image(scanner, zimage) < 0:
                raise ImageError("zbar refused the image format")
            return self._symbols_of(zimage)
        finally:
            w.zbar_image_destroy(zimage)
            w.zbar_image_scanner_destroy(scanner)

    def _symbols_of(self, zimage: Any) -> list[Symbol]:
        from ctypes import string_at

        w = self._wrapper
        found: list[Symbol] = []
        symbol = w.zbar_image_first_symbol(zimage)
        while symbol:
            kind = w.ZBarSymbol(symbol.contents.type).name
            data = string_at(w.zbar_symbol_get_data(symbol), w.zbar_symbol_get_data_length(symbol))
            points = [
                (int(w.zbar_symbol_get_loc_x(symbol, i)), int(w.zbar_symbol_get_loc_y(symbol, i)))
                for i in range(w.zbar_symbol_get_loc_size(symbol))
            ]
            is_gs1 = kind in _ZBAR_ALWAYS_GS1 or bool(self._get_modifiers(symbol) & _ZBAR_MOD_GS1)
            orientation = self._orientation(symbol)
            found.append(_zbar_symbol(kind, data, points, is_gs1, orientation))
            symbol = w.zbar_symbol_next(symbol)
        return found

    def _orientation(self, symbol: Any) -> int | None:
        """Degrees clockwise in (-180, 180], as zxing-cpp reports them; None if unknown."""
        getter = self._wrapper.zbar_symbol_get_orientation
        quarter_turns = int(getter(symbol)) if getter is not None else -1
        if quarter_turns < 0:
            return None  # ZBAR_ORIENT_UNKNOWN, or a zbar too old to say
        return {0: 0, 1: 90, 2: 180, 3: -90}[quarter_turns % 4]


def _zbar_symbol(
    kind: str, data: bytes, points: list[Point], is_gs1: bool, orientation: int | None
) -> Symbol:
    plain_id, gs1_id, name = _ZBAR_SYMBOLOGY.get(kind, ("", "", kind))
    xs = [x for x, _ in points] or [0]
    ys = [y for _, y in points] or [0]
    left, right, top, bottom = min(xs), max(xs), min(ys), max(ys)
    return Symbol(
        symbology=name,
        symbology_id=(gs1_id if is_gs1 else plain_id) or None,
        # zbar hands back UTF-8 (it converts other ECI encodings itself).
        text=data.decode("utf-8", errors="replace"),
        gs1=is_gs1,
        corners=((left, top), (right, top), (right, bottom), (left, bottom)),
        orientation=orientation,
        decoder="zbar",
    )


def _grayscale(image: Image) -> Image:
    if image.ndim == 2:
        return image
    if image.shape[2] == 1:
        return image[:, :, 0].copy()
    import cv2

    return np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)


def error_correction_used(extra: Mapping[str, Any] | None) -> float | None:
    """The share of error correction a zxing-cpp read spent, from ``Barcode.extra``.

    None for symbologies without error correction (linear codes report no ``UEC``).
    """
    if not extra:
        return None
    unused = extra.get("UEC")
    if not isinstance(unused, int | float) or isinstance(unused, bool):
        return None
    return min(1.0, max(0.0, 1.0 - float(unused)))
