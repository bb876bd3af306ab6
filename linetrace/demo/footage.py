"""Endless synthetic footage for one demo camera: video after video, serials always new.

Each station films one video after another, drawn by :mod:`linetrace.synth` in memory
(nothing is written to disk, so hours of footage take no space). One code factory lives
across the videos of a station, so every video shows the line's one product and lot with
serials that carry on from the last; where the next serial is kept in the state folder,
a second run of the demo goes on from there instead of printing the same serials again.
The "low" wear of the synthetic footage covers about one label in twenty so far that it
cannot be read: the occasional worn label that the no-read view shows.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from linetrace.demo.plant import DemoStation
from linetrace.synth.codes import CodeFactory, Product, with_check_digit
from linetrace.synth.kinds import Symbology
from linetrace.synth.layout import lay_out
from linetrace.synth.render import frames
from linetrace.synth.spec import ConveyorSpec, Image

__all__ = ["FRAME_SIZE", "LineCodes", "line_product", "station_frames"]

# Smaller than a real camera's 720p: rendering, encoding and decoding four streams must
# leave a 2-core machine room for the rest of the plant. Labels keep their 720p size.
FRAME_SIZE = (800, 450)
# A labelling station prints item labels; a packing station also sees case labels (SSCC)
# with the items packed in them, which is what makes its pack events.
MIXES: dict[str, dict[str, float]] = {
    "labelling": {Symbology.GS1_DATAMATRIX: 2.0, Symbology.GS1_QR_DIGITAL_LINK: 1.0},
    "packing": {
        Symbology.GS1_DATAMATRIX: 2.0,
        Symbology.GS1_QR_DIGITAL_LINK: 1.0,
        Symbology.GS1_128_SSCC: 1.0,
    },
}
# Serial numbers have nine digits: the station's number, then its own running count.
_SERIAL_SPAN = 100_000_000


def _line_seed(line: str) -> int:
    return int(sum(ord(c) * 31**i for i, c in enumerate(line))) % 1_000_003


def line_product(line: str) -> Product:
    """The one product a line packs, the same on every run (its batch names it)."""
    product = CodeFactory(_line_seed(line), products=1).products[0]
    # One GTIN per product: the unit's, as a batch names it (no inner-pack GTIN).
    return replace(product, pack_gtin14="0" + product.gtin13)


class LineCodes(CodeFactory):
    """The line's product with serials and SSCCs counted on from a saved position."""

    def __init__(self, station: DemoStation, first: int) -> None:
        super().__init__(_line_seed(station.line) + station.number, products=1)
        self.products = (line_product(station.line),)
        self._prefix = str(station.number)
        self._count = first

    def serial(self) -> str:
        value, self._count = self._count, self._count + 1
        return f"{self._prefix}{value % _SERIAL_SPAN:08d}"

    def sscc(self) -> str:
        value, self._count = self._count, self._count + 1
        company = self.products[0].gtin13[:7]
        reference = f"{self._prefix}{value % _SERIAL_SPAN:08d}".rjust(16 - len(company), "0")
        return with_check_digit("0" + company + reference)


class _Position:
    """The next free serial count of a station, kept in a small file across runs."""

    def __init__(self, path: Path) -> None:
        self._path = path

    def take(self, count: int) -> int:
        """Reserve ``count`` numbers; saved before use, so a crash never reuses one."""
        try:
            first = int(json.loads(self._path.read_text())["next"])
        except (OSError, ValueError, KeyError, TypeError):
            first = 0
        self._path.parent.mkdir(parents=True, exist_ok=True)
        self._path.write_text(json.dumps({"next": first + count}))
        return first


def station_frames(
    station: DemoStation,
    folder: Path,
    *,
    fps: float,
    items_per_second: float,
    items_per_video: int,
) -> Iterator[tuple[int, Image]]:
    """``(video number, frame)`` forever: one video after another, each with new codes."""
    position = _Position(folder / f"{station.line}-{station.station}.json")
    video = 0
    while True:
        # Every label draws one number (a serial or an SSCC): reserve as many as items.
        first = position.take(items_per_video)
        spec = ConveyorSpec(
            items=items_per_video,
            fps=fps,
            width=FRAME_SIZE[0],
            height=FRAME_SIZE[1],
            items_per_second=items_per_second,
            seed=first % 1_000_000_007,
            mix=dict(MIXES[station.role]),
            degradation="low",
        )
        video += 1
        for image in frames(spec, lay_out(spec, LineCodes(station, first))):
            yield video, image
