"""Decoder backends on real symbols drawn by zxing-cpp's encoder."""

from __future__ import annotations

import ctypes.util
import sys
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest
import zxingcpp

from linetrace.edge.camera.images import grayscale
from linetrace.edge.vision.decode import ImageError, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import DEFAULT_FORMATS, DecoderError, check_formats
from linetrace.edge.vision.locate import Region
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Hint
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import GOOD_HRI, GTIN, canvas, code_image, datamatrix
from tests.edge.scenes import EAN13, SSCC, covered, ean13, gs1_128, place, turned

Fmt = zxingcpp.BarcodeFormat
GS = "\x1d"
ELEMENT_STRING = f"01{GTIN}17271231" + f"10L2611{GS}21000123"


@pytest.fixture(scope="module")
def zxing() -> ZxingDecoder:
    return ZxingDecoder()


def test_gs1_datamatrix_keeps_separators_and_reports_its_identifier(zxing: ZxingDecoder) -> None:
    (found,) = zxing.decode(datamatrix(GOOD_HRI))

    assert found.symbology == "DataMatrix"
    assert found.symbology_id == "]d2"
    assert found.gs1
    assert found.text == ELEMENT_STRING  # plain text: GS separators, no "(01)"


def test_gs1_128_and_plain_code128_are_told_apart(zxing: ZxingDecoder) -> None:
    (gs1,) = zxing.decode(code_image(f"(01){GTIN}(10)ABC", Fmt.Code128, gs1=True, scale=2))
    (plain,) = zxing.decode(code_image("HELLO-42", Fmt.Code128, scale=2))

    assert (gs1.symbology_id, gs1.gs1, gs1.text) == ("]C1", True, f"01{GTIN}10ABC")
    assert (plain.symbology_id, plain.gs1, plain.text) == ("]C0", False, "HELLO-42")


def test_qr_digital_link_and_ean13(zxing: ZxingDecoder) -> None:
    uri = f"https://id.gs1.org/01/{GTIN}/21/7"
    (qr,) = zxing.decode(code_image(uri, Fmt.QRCode))
    (ean,) = zxing.decode(code_image("5901234123457", Fmt.EAN13, scale=2))

    assert (qr.symbology, qr.symbology_id, qr.gs1, qr.text) == ("QRCode", "]Q1", False, uri)
    assert (ean.symbology, ean.symbology_id, ean.text) == ("EAN13", "]E0", "5901234123457")


def test_several_symbols_in_one_bgr_frame_each_with_their_place(zxing: ZxingDecoder) -> None:
    image = canvas(
        [
            (datamatrix(GOOD_HRI, scale=3), 20, 60),
            (code_image("LEFT-RIGHT", Fmt.QRCode, scale=3), 300, 40),
        ]
    )
    found = sorted(zxing.decode(image), key=lambda s: s.centre[0])

    assert [s.symbology for s in found] == ["DataMatrix", "QRCode"]
    assert found[0].centre[0] < 150 < found[1].centre[0]
    assert all(s.size > 20 for s in found)


def test_rotated_symbol_is_read(zxing: ZxingDecoder) -> None:
    image = np.ascontiguousarray(np.rot90(code_image("5901234123457", Fmt.EAN13, scale=2)))
    (found,) = zxing.decode(image)

    assert found.text == "5901234123457"
    assert found.orientation == -90  # rot90 turns it a quarter anticlockwise


def test_formats_restrict_what_is_decoded() -> None:
    only_qr = ZxingDecoder(["qrcode"])  # names are case-insensitive

    assert only_qr.decode(datamatrix(GOOD_HRI)) == []
    assert [s.symbology for s in only_qr.decode(code_image("X", Fmt.QRCode))] == ["QRCode"]


def test_a_family_member_not_asked_for_is_not_reported() -> None:
    """zxing-cpp 3 reads Micro QR for QRCode; a worn QR code can come back as one."""
    micro = np.asarray(zxingcpp.create_barcode("704263", zxingcpp.BarcodeFormat.MicroQRCode)
                       .to_image(scale=6, add_quiet_zones=True), np.uint8)  # fmt: skip

    assert ZxingDecoder(["QRCode"]).decode(micro) == []
    found = ZxingDecoder(["QRCode", "MicroQRCode"]).decode(micro)
    assert [(s.symbology, s.text) for s in found] == [("MicroQRCode", "704263")]


def test_blank_image_has_no_symbols(zxing: ZxingDecoder) -> None:
    assert zxing.decode(np.full((120, 160), 255, dtype=np.uint8)) == []


@pytest.mark.parametrize(
    ("image", "message"),
    [
        (np.zeros((10, 10), dtype=np.float32), "uint8"),
        (np.zeros((0, 10), dtype=np.uint8), "empty"),
        (np.zeros((10, 10, 2), dtype=np.uint8), "grayscale or BGR"),
        ([[0, 1]], "uint8"),
    ],
)
def test_bad_images_raise_a_clear_error(zxing: ZxingDecoder, image: object, message: str) -> None:
    with pytest.raises(ImageError, match=message):
        zxing.decode(image)  # type: ignore[arg-type]


def test_check_formats_canonicalises_and_names_the_bad_one() -> None:
    assert check_formats("zxing", ["datamatrix", "DataMatrix", "EAN13"]) == ("DataMatrix", "EAN13")
    with pytest.raises(DecoderError, match="'Bogus'"):
        check_formats("zxing", ["DataMatrix", "Bogus"])
    with pytest.raises(DecoderError, match="zbar backend cannot read DataMatrix"):
        check_formats("zbar", ["DataMatrix"])
    with pytest.raises(DecoderError, match="no barcode formats"):
        check_formats("zxing", [])
    assert set(DEFAULT_FORMATS) <= set(check_formats("zxing", DEFAULT_FORMATS))


def test_missing_zbar_library_names_the_package_to_install(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import pyzbar

    # As without libzbar0: importing pyzbar's bindings fails.
    monkeypatch.delattr(pyzbar, "wrapper", raising=False)
    monkeypatch.setitem(sys.modules, "pyzbar.wrapper", None)

    with pytest.raises(DecoderError, match="apt-get install libzbar0"):
        ZbarDecoder()


@pytest.fixture
def zbar(require: Callable[[bool, str], None]) -> ZbarDecoder:
    require(ctypes.util.find_library("zbar") is not None, "libzbar0 is not installed")
    return ZbarDecoder()


def test_zbar_reads_gs1_128_with_its_modifier(zbar: ZbarDecoder) -> None:
    image = code_image(f"(01){GTIN}(10)ABC(21)7", Fmt.Code128, gs1=True, scale=2)
    (found,) = zbar.decode(image)

    assert (found.symbology, found.symbology_id, found.gs1) == ("Code128", "]C1", True)
    assert found.text == f"01{GTIN}10ABC{GS}217"


def test_zbar_reads_plain_code128_qr_and_ean13_in_bgr(zbar: ZbarDecoder) -> None:
    image = canvas(
        [
            (code_image("HELLO", Fmt.Code128, scale=2), 10, 10),
            (code_image("https://example.com/x", Fmt.QRCode, scale=3), 330, 20),
            (code_image("5901234123457", Fmt.EAN13, scale=2), 10, 140),
        ],
        width=480,
        height=300,
    )
    found = {(s.symbology, s.symbology_id, s.gs1, s.text) for s in zbar.decode(image)}

    assert found == {
        ("Code128", "]C0", False, "HELLO"),
        ("QRCode", "]Q1", False, "https://example.com/x"),
        ("EAN13", "]E0", False, "5901234123457"),
    }


def test_zbar_formats_restrict_what_is_decoded(require: Callable[[bool, str], None]) -> None:
    require(ctypes.util.find_library("zbar") is not None, "libzbar0 is not installed")
    only_ean = ZbarDecoder(["EAN13"])

    assert only_ean.decode(code_image("HELLO", Fmt.Code128, scale=2)) == []


def test_zbar_and_zxing_agree_on_orientation(zbar: ZbarDecoder, zxing: ZxingDecoder) -> None:
    upright = code_image("5901234123457", Fmt.EAN13, scale=2)
    for quarter_turns in range(4):
        image = np.ascontiguousarray(np.rot90(upright, quarter_turns))
        (by_zbar,) = zbar.decode(image)
        (by_zxing,) = zxing.decode(image)
        assert by_zbar.orientation == by_zxing.orientation, quarter_turns


# --- the frame reader: locate, decode cut-outs, carry labels already read ----------------


def reader(**options: Any) -> FrameReader:
    return FrameReader(PipelineConfig(**options))


def test_reader_reads_a_turned_linear_code_that_whole_frame_decoding_misses() -> None:
    frame = place(turned(gs1_128(), 30), (900, 700), 60, 40)

    whole = reader(locate=False).read(frame)
    located = reader().read(frame)

    assert whole.symbols == []
    (symbol,) = located.symbols
    assert (symbol.symbology, symbol.text) == ("Code128", f"00{SSCC}")
    (sighting,) = located.sightings
    assert sighting.region.bars is not None
    # Corners come back in frame pixels: the symbol sits inside its region.
    assert sighting.region.holds(symbol.centre)
    assert located.attempts == 1
    assert located.seconds > 0


def test_reader_tries_again_magnified_where_the_plain_cut_out_fails() -> None:
    # Bars of one pixel, turned: too thin for the scan lines until magnified.
    frame = place(turned(ean13(scale=1), 15), (900, 700), 60, 40)

    plain = reader(enhance=False).read(frame)
    enhanced = reader().read(frame)

    assert plain.symbols == []
    assert [s.text for s in enhanced.symbols] == [EAN13]
    assert enhanced.attempts == 2


def test_a_region_a_hint_names_is_carried_not_decoded() -> None:
    frame = place(datamatrix(GOOD_HRI, scale=3), (640, 480), 200, 150)
    first = reader().read(frame)
    (sighting,) = first.sightings

    again = reader().read(frame, [Hint(7, sighting.region.moved(3, 2))])

    (carried,) = again.sightings
    assert carried.carried == 7
    assert carried.symbols == ()
    assert again.attempts == 0
    assert again.symbols == []


def test_a_hint_elsewhere_or_for_a_smaller_region_does_not_carry() -> None:
    frame = place(datamatrix(GOOD_HRI, scale=3), (640, 480), 200, 150)
    (sighting,) = reader().read(frame).sightings
    region = sighting.region
    elsewhere = Hint(1, region.moved(region.extent * 2, 0))
    smaller = Hint(2, Region(region.centre, (region.size[0] / 3, region.size[1] / 3),
                             region.angle, None, 0.0, 200.0, False))  # fmt: skip

    again = reader().read(frame, [elsewhere, smaller])

    assert [s.carried for s in again.sightings] == [None]
    assert [s.symbology for s in again.symbols] == ["DataMatrix"]


def test_roi_and_scale_map_back_to_frame_pixels() -> None:
    frame = place(datamatrix(GOOD_HRI, scale=4), (800, 600), 420, 300)
    full = reader().read(frame).symbols[0]

    cropped = reader(roi=(400, 280, 300, 300)).read(frame).symbols[0]
    scaled = reader(scale=0.75).read(frame).symbols[0]

    assert np.allclose(cropped.centre, full.centre, atol=2)
    assert np.allclose(scaled.centre, full.centre, atol=4)
    assert reader(roi=(0, 0, 300, 300)).read(frame).symbols == []  # outside the ROI


def test_whole_frame_mode_has_no_regions() -> None:
    frame = place(datamatrix(GOOD_HRI, scale=3), (640, 480), 200, 150)

    reading = reader(locate=False).read(frame)

    assert reading.sightings == ()
    assert [s.symbology for s in reading.loose] == ["DataMatrix"]


def test_a_covered_code_is_located_but_not_decoded() -> None:
    frame = place(covered(ean13(scale=3)), (800, 500), 100, 100)

    reading = reader().read(frame)

    assert reading.symbols == []
    assert len(reading.sightings) >= 1
    assert all(s.region.bars is not None for s in reading.sightings)


def test_grayscale_keeps_gray_and_converts_colour() -> None:
    bgr = np.zeros((4, 4, 3), np.uint8)
    bgr[..., 2] = 255  # pure red

    assert grayscale(bgr).shape == (4, 4)
    assert int(grayscale(bgr)[0, 0]) == 76
    gray = np.ones((4, 4), np.uint8)
    assert grayscale(gray) is gray
    assert grayscale(gray[:, :, None]).shape == (4, 4)
