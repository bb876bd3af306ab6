"""Scoring a scan against a video's truth: what was read, missed, doubled or made up.

The generator records where every label is in every frame (:class:`Truth`); a scan is
scored against it here, the scanner's passages and a plain decoder loop's texts alike.
A missed label counts against the scanner only when some thorough decoder, independent
of the scanner, can read it in fact (:func:`undecodable_items`).
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.line.passage import Passage
from linetrace.synth.conveyor import Truth, TruthItem

__all__ = [
    "FORMAT_OF_KIND",
    "START",
    "Image",
    "Score",
    "frames",
    "loop_read_rate",
    "plain",
    "score_passages",
    "undecodable_items",
]

# When every scanned video starts: the scanner stamps frames from here, the scoring maps
# a passage's time back to its frame.
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# What the decoder reports for each kind of label the generator prints.
FORMAT_OF_KIND = {
    "gs1-datamatrix": "DataMatrix",
    "gs1-qr-digital-link": "QRCode",
    "gs1-128-sscc": "Code128",
    "ean-13": "EAN13",
}
# A passage's first sighting may precede the truth's first frame by one: the truth counts
# a label from the frame its symbol is whole, a locator may see the label a frame earlier.
EARLY_FRAMES = 1

Image = npt.NDArray[np.uint8]


def frames(path: Path) -> Iterator[Image]:
    """The video's frames as the camera's decoder hands them over (BGR)."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield np.asarray(image, np.uint8)
    finally:
        capture.release()


def plain(text: str) -> str:
    """Text with GS1 brackets and separators removed: how zxing and zbar texts compare."""
    return re.sub(r"[()\x1d]", "", text)


@dataclass
class Score:
    """What one scan found against the truth."""

    readable: int = 0
    occluded: int = 0
    read: int = 0
    duplicates: int = 0
    false_reads: int = 0
    noreads_right: int = 0
    noreads_extra: int = 0  # a second no-read for one occluded label
    noreads_false: int = 0  # a no-read where no occluded label was
    missed: list[str] = field(default_factory=list)
    missed_items: list[int] = field(default_factory=list)
    # Missed items that no thorough decoder reads from any frame either (see ``decodable``):
    # not readable in fact, so not counted against the scanner.
    undecodable: list[int] = field(default_factory=list)

    @property
    def decodable(self) -> int:
        """The readable items some decoder can read in fact."""
        return self.readable - len(self.undecodable)

    @property
    def read_rate(self) -> float:
        """Of the readable items that some decoder reads."""
        return 100.0 * self.read / self.decodable if self.decodable else 100.0

    @property
    def unoccluded_rate(self) -> float:
        """Of every item not covered on purpose, readable in fact or not."""
        return 100.0 * self.read / self.readable if self.readable else 100.0


def score_passages(truth: Truth, passages: list[Passage]) -> Score:
    items = truth.items
    score = Score(
        readable=sum(item.readable for item in items),
        occluded=sum(not item.readable for item in items),
    )
    done: set[int] = set()
    fps = truth.spec.fps
    for passage in sorted(passages, key=lambda p: p.first_seen):
        frame = round((passage.first_seen - START).total_seconds() * fps)
        if passage.kind is EventKind.NOREAD:
            _score_noread(score, items, done, frame)
        else:
            _score_read(score, items, done, frame, passage)
    missed = [item for item in items if item.readable and item.index not in done]
    score.missed = [f"{item.index}:{item.symbology}" for item in missed]
    score.missed_items = [item.index for item in missed]
    return score


def _in_view(item: TruthItem, frame: int) -> bool:
    return item.first_frame - EARLY_FRAMES <= frame <= item.last_frame


def _score_read(
    score: Score, items: list[TruthItem], done: set[int], frame: int, passage: Passage
) -> None:
    text = to_hri(passage.symbology_id, passage.text or "")
    matches = [
        item
        for item in items
        if item.readable
        and item.text == text
        and FORMAT_OF_KIND[item.symbology] == passage.symbology
        and _in_view(item, frame)
    ]
    fresh = [item for item in matches if item.index not in done]
    if fresh:
        done.add(fresh[0].index)
        score.read += 1
    elif matches:
        score.duplicates += 1
    else:
        score.false_reads += 1


def _score_noread(score: Score, items: list[TruthItem], done: set[int], frame: int) -> None:
    matches = [item for item in items if not item.readable and _in_view(item, frame)]
    fresh = [item for item in matches if item.index not in done]
    if fresh:
        done.add(fresh[0].index)
        score.noreads_right += 1
    elif matches:
        score.noreads_extra += 1
    else:
        score.noreads_false += 1


def loop_read_rate(
    truth: Truth, texts_per_frame: list[set[str]], undecodable: frozenset[int] = frozenset()
) -> float:
    """Share of readable items whose text a plain loop decoded in any frame of the passage
    (leaving out those no decoder can read)."""
    readable = [i for i in truth.items if i.readable and i.index not in undecodable]
    read = sum(
        any(
            plain(item.text) in texts_per_frame[f]
            for f in range(item.first_frame, min(item.last_frame + 1, len(texts_per_frame)))
        )
        for item in readable
    )
    return 100.0 * read / len(readable) if readable else 100.0


# --- which readable labels can be read at all -------------------------------------------

# The generator marks a label readable unless it covers it on purpose, but wear can leave a
# label that no decoder reads from any frame. A missed item counts against the scanner only
# if a thorough decoder, independent of the scanner's pipeline, reads its text from some
# frame of its passage: zxing-cpp trying hardest (every quarter turn, inverted, smaller
# copies, both binarizers) and zbar, on the whole frame at its own size and magnified, and
# turned in steps that let one scan line cross every bar of a linear code at any tilt (a
# straight line crosses a whole GS1-128 up to about 16 degrees off its axis).
ORACLE_SCALES = (1.0, 2.0)
ORACLE_TURNS = (0.0, 30.0, 60.0)
ORACLE_BINARIZERS = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.FixedThreshold)


LINEAR_KINDS = frozenset({"gs1-128-sscc", "ean-13"})


def _oracle_views(gray: Image, turns: tuple[float, ...]) -> Iterator[Image]:
    for scale in ORACLE_SCALES:
        big = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        height, width = big.shape[:2]
        for turn in turns:
            if turn == 0.0:
                yield np.asarray(big, np.uint8)
                continue
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), turn, 1.0)
            side = int(math.hypot(width, height))
            matrix[:, 2] += ((side - width) / 2, (side - height) / 2)
            yield np.asarray(cv2.warpAffine(big, matrix, (side, side), borderValue=128), np.uint8)


def _oracle_texts(view: Image) -> Iterator[str]:
    for binarizer in ORACLE_BINARIZERS:
        for found in zxingcpp.read_barcodes(view, try_invert=True, binarizer=binarizer):
            yield found.text
    for found in pyzbar.decode(view):
        yield found.data.decode("utf-8", "replace")


def undecodable_items(path: Path, truth: Truth, missed: list[int]) -> list[int]:
    """Those of the ``missed`` items whose text no thorough decoder reads in any frame of
    their passage (see the constants above)."""
    pending = {index: truth.items[index] for index in missed}
    if not pending:
        return []
    for number, image in enumerate(frames(path)):
        due = [i for i, item in pending.items() if item.first_frame <= number <= item.last_frame]
        if not due:
            if number > max(item.last_frame for item in pending.values()):
                break
            continue
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
        # Turning helps scan lines across bars only; matrix detectors find any rotation.
        linear = any(pending[i].symbology in LINEAR_KINDS for i in due)
        for view in _oracle_views(gray, ORACLE_TURNS if linear else (0.0,)):
            texts = {plain(text) for text in _oracle_texts(view)}
            for index in [i for i in due if plain(pending[i].text) in texts]:
                del pending[index]
                due.remove(index)
            if not due:
                break
        if not pending:
            break
    return sorted(pending)
