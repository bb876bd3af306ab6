"""A photo the plain read finds nothing in gets more tries (half size, the other decoder),
on real photographs: what they read is reported, what zbar misreads is not, and a camera's
still scene gets none of them."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame import Frame
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Reading
from linetrace.edge.vision.second_read import SecondReader, View
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import Image, symbol

PHOTOS = Path(__file__).resolve().parents[3] / "bench" / "photos"
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)

# (photo, the code in it, the decoder whose try reads it): zxing-cpp's plain whole read
# reads nothing in any of them.
READ_BY_A_TRY = [
    ("zxing-cpp/upca-5/06.webp", "312547701310", "zbar"),
    ("zxing-cpp/upca-5/07.webp", "0312547701310", "zxing"),  # at half size
    ("quagga2/ean_8/image-002.jpg", "42191605", "zbar"),
    ("zxing-cpp/qrcode-4/08.webp", "Google Print Ads - T.G.I.A.F. - January 31, 2008", "zbar"),
]
# (photo, what zbar's try misreads in it): a UPC-E out of a UPC-A's surroundings, and
# an EAN-13 whose check digit fits; zxing-cpp reads neither.
ZBAR_MISREADS = [
    ("zxing-cpp/upca-5/32.webp", "00278344"),
    ("zxing-cpp/upca-4/6.webp", "9074932437075"),
]


def photo(name: str) -> Image:
    image = cv2.imdecode(np.fromfile(PHOTOS / name, dtype=np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, name
    return np.asarray(image, dtype=np.uint8)


def reported(image: Image, *, still: bool) -> list[str]:
    """The codes a pipeline reports for ``image`` as one photo of a folder, or as an item
    held still under a camera (its frame read, then unchanged frames)."""
    pipeline = ScanPipeline(PipelineConfig(), live=False)
    pipeline.photos = not still
    passages = pipeline.feed(Frame(image, 0, START, 0.0))
    if still:
        for index in range(1, 7):
            passages += pipeline.observe_still(index, index / 30, START)
    passages += pipeline.finish()
    return [p.text for p in passages if p.kind is EventKind.READ and p.text is not None]


@pytest.mark.parametrize(("name", "text", "decoder"), READ_BY_A_TRY)
def test_a_try_reads_what_the_plain_whole_read_misses(name: str, text: str, decoder: str) -> None:
    image = photo(name)
    reader = FrameReader(PipelineConfig())
    assert reader.read_whole(image).symbols == []
    found = reader.read_picture(image).symbols
    assert [(s.text, s.decoder) for s in found] == [(text, decoder)]


def test_a_half_size_read_is_placed_in_the_pictures_own_pixels() -> None:
    """The label of this photo spans most of its width; read at half size, its corners
    are carried back to full size (uncarried, they would span less than half)."""
    image = photo("zxing-cpp/upca-5/07.webp")
    (found,) = FrameReader(PipelineConfig()).read_picture(image).symbols
    xs = [x for x, _ in found.corners]
    assert max(xs) - min(xs) > 0.6 * image.shape[1]
    assert max(xs) <= image.shape[1]


@pytest.mark.parametrize(("name", "text", "decoder"), READ_BY_A_TRY)
def test_what_a_try_reads_is_reported(name: str, text: str, decoder: str) -> None:
    assert reported(photo(name), still=False) == [text]


@pytest.mark.parametrize("still", [False, True], ids=["photo", "still item"])
def test_a_cameras_still_scene_gets_no_tries(still: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """A camera's frames, an item held still under it included, are read by the plain
    whole read only: the tries are for photos."""
    tried: list[int] = []
    picture = FrameReader.read_picture

    def counted(self: FrameReader, image: Image) -> Reading:
        tried.append(1)
        return picture(self, image)

    monkeypatch.setattr(FrameReader, "read_picture", counted)
    found = reported(photo("zxing-cpp/upca-5/06.webp"), still=still)
    assert (tried, found) == (([], []) if still else ([1], ["312547701310"]))


@pytest.mark.parametrize(("name", "misread"), ZBAR_MISREADS)
def test_a_zbar_misread_is_never_reported(name: str, misread: str) -> None:
    image = photo(name)
    assert misread in [s.text for s in FrameReader(PipelineConfig()).read_picture(image).symbols]
    assert reported(image, still=False) == []


def test_the_tries_never_run_for_a_picture_the_plain_read_reads() -> None:
    image = photo("zxing-cpp/upca-5/03.webp")
    reading = FrameReader(PipelineConfig()).read_picture(image)
    assert reading.attempts == 1
    assert [s.decoder for s in reading.symbols] == ["zxing"]


def test_a_zbar_read_is_not_confirmed_by_zbar_at_its_own_size() -> None:
    """zbar reads pixels one way: its look at the read's own size would repeat the read,
    so a zbar read gets one look fewer and, read by the station's other decoder, owes one
    agreeing read more."""
    image = photo("zxing-cpp/upca-5/06.webp")
    gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    view = View(gray, None)
    reader = SecondReader(PipelineConfig())
    height, width = gray.shape
    by_zxing = symbol("312547701310", width / 2, height / 2, size=200, symbology="UPCA")
    by_zbar = replace(by_zxing, decoder="zbar")
    assert len(list(reader.looks(view, by_zbar))) == len(list(reader.looks(view, by_zxing))) - 1
    assert (reader.owed(by_zxing), reader.owed(by_zbar)) == (0, 1)
    zbar_station = SecondReader(PipelineConfig(backend="zbar"))
    assert (zbar_station.owed(by_zxing), zbar_station.owed(by_zbar)) == (1, 0)
