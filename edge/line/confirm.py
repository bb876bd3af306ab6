"""Confirming a linear read when no second frame can: an independent second read instead.

A linear code's passage counts once ``linear_confirmations`` reads agree (see
:mod:`linetrace.edge.scanner.pipeline`): one frame's read may be a misread whose check digit
fits. Most passages get their reads from the frames of a moving belt. Three kinds get no
other frame to read, and would never be reported:

* a still scene: an item stopped under the camera, held by a person, on an accumulating
  line. Its unchanged frames are skipped as still (nothing to decode), so the label is
  read in one frame however long it stays;
* a single photograph, and the last frame of a file;
* a pause longer than the tracking window after the read: one photo of a folder, a live
  source that stalls.

For these the view the read came from is read again by independent decoders
(:mod:`linetrace.edge.vision.second_read`), never by the same decoder on the same pixels, so a
misread cannot confirm itself. Each independent decoder that reads the same code is one
more agreeing read; one that reads another code at that spot is a dispute, and the passage
gets no agreement at all (it is dropped as unconfirmed, as a passage read in too few frames
always was). Only the last read frame's linear reads are kept, as small copies of the
frame around each (the frame goes back to the ring), so memory stays bounded and nothing is
decoded again on a moving line, where the next read frame replaces them.

* On the still frames that follow a read frame (while they are within the tracking window
  of it), each agreement is handed to the tracker as a read of that still frame, one per
  frame: the passage is confirmed while the item is still there.
* A passage that closes with its last sighting in the last read frame (the photograph,
  the end of the file, the pause) has the agreements added at close.
* A moving line's passage decoded in one frame only (a worn label the other frames could
  not read) gets one agreeing read at close from a per-row read of its view in that frame
  (:mod:`linetrace.edge.vision.row_vote`): at least :data:`ROW_AGREEMENT` bands read the
  code and none reads another. So the newest view of each linear code stays kept a while.
  A GS1-128 read whose SSCC or GTIN check digit verifies gets it without the vote
  (:func:`doubly_checked`): its misread would have to pass two checks, not one.

The bands also guard the other way (:meth:`Confirmer.doubts`): a worn EAN-13 can misread
the same way in frame after frame (print gain flips its left digits' parity), so frames
alone would confirm it. An EAN/UPC or ITF read about to be confirmed by frames is asked
once whether its bands read it; where most read another code, its passage is dropped as a
misread and its region is read again, the plain try last, rather than carried.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import TYPE_CHECKING

from linetrace.edge.line.gs1 import CHECK_DIGIT, interpret
from linetrace.edge.vision.formats import LINEAR_FORMATS
from linetrace.edge.vision.row_vote import RowVoter
from linetrace.edge.vision.second_read import SecondReader, View, cut_view, family

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    from linetrace.edge.line.track import Track
    from linetrace.edge.vision.decode import Symbol
    from linetrace.edge.vision.locate import Region
    from linetrace.edge.vision.reading import Reading

    Image = npt.NDArray[np.uint8]

__all__ = ["CHECKED_KEYS", "Confirmer", "doubly_checked", "same_code"]

logger = logging.getLogger(__name__)

# The EAN/UPC family: one GTIN reads as UPC-A in one decoder and as EAN-13 with a leading
# zero in another, and UPC-E as 8 digits or expanded; its reads are compared as GTIN-14.
_EAN_UPC = frozenset({"EAN13", "EAN8", "UPCA", "UPCE"})
# The bands of a per-row read (:mod:`linetrace.edge.vision.row_vote`) that must read the
# code, none reading another, for it to count as one more agreeing read.
ROW_AGREEMENT = 3
# The linear formats whose only check is one mod-10 digit (a misread passes it one time in
# ten, so a read confirmed by frames is asked whether its own bands agree), each with the
# formats of its own length that its bands are read for: half an EAN-13's bars read as an
# EAN-8 now and then, which is a fragment of it, not another code.
_MOD10_ONLY: dict[str, tuple[str, ...]] = {
    "EAN13": ("EAN13", "UPCA"),
    "UPCA": ("EAN13", "UPCA"),
    "EAN8": ("EAN8",),
    "UPCE": ("UPCE",),
    "ITF14": ("ITF14", "ITF"),
    "ITF": ("ITF14", "ITF"),
}
# The short codes that part of a longer one can read as (half an EAN-13's bars as a UPC-E
# or an EAN-8): where the frame's border cuts them, their bands are no confirmation.
_FRAGMENTS = frozenset({"UPCE", "EAN8"})
# The AIs whose value ends in a mod-10 check digit (SSCC, GTIN, the GTIN of the contents)
# that a GS1-128 read may carry for :func:`doubly_checked`.
CHECKED_KEYS = frozenset({"00", "01", "02"})
# The linear reads kept from earlier read frames, for a moving line's passage read in one
# frame only (per-row confirmation at close): the newest, by code.
KEPT_SINGLES = 64


def same_code(first: Symbol, second: Symbol) -> bool:
    """Whether two reads are of the same code, whatever each decoder called the format."""
    if first.symbology in _EAN_UPC and second.symbology in _EAN_UPC:
        gtin = _gtin(first)
        return gtin is not None and gtin == _gtin(second)
    return second.symbology in family(first.symbology) and first.text == second.text


def doubly_checked(symbol: Symbol) -> bool:
    """Whether ``symbol`` is a GS1-128 read that two independent checks passed.

    Code 128's mod-103 check character catches every read with one wrong character (103
    is prime and no weight reaches it), so a misread needs two or more wrong characters
    that happen to cancel (about one time in a hundred), and an SSCC or GTIN in the data
    has its own mod-10 check digit besides. An EAN-13 has the mod-10 digit alone, which a
    misread passes one time in ten. A moving line's GS1-128 read in one frame whose
    element string carries such a key, every check digit verifying, therefore counts as
    confirmed by its checks.
    """
    if symbol.symbology != "Code128" or not symbol.gs1:
        return False
    meaning = interpret(symbol.symbology_id, symbol.text, symbology=symbol.symbology)
    return (
        meaning.gs1 is not None
        and bool(CHECKED_KEYS & meaning.gs1.keys())
        and CHECK_DIGIT in meaning.checks
        and meaning.valid
    )


def _gtin(symbol: Symbol) -> str | None:
    meaning = interpret(symbol.symbology_id or "]E0", symbol.text, symbology=symbol.symbology)
    return meaning.gs1.get("01") if meaning.gs1 else None


@dataclass(slots=True, eq=False)
class _Kept:
    """One linear read of the last read frame and what second reads made of it."""

    symbol: Symbol  # as the frame reader reported it, in frame pixels
    view: View
    agreed: int | None = None  # independent reads of the same code; None until asked
    handed: int = 0  # agreements already handed to still frames


class Confirmer:
    """Keeps the last read frame's linear reads and confirms them by independent reads."""

    def __init__(self, reader: SecondReader, window_s: float, confirmations: int) -> None:
        """``confirmations``: the agreeing reads a linear code needs, its first included."""
        self._reader = reader
        self._window_s = window_s
        self._wanted = confirmations - 1  # a kept read is one; this many more confirm it
        self._kept: list[_Kept] = []
        self._rows = RowVoter()
        self._singles: dict[tuple[str, str], tuple[int, _Kept]] = {}
        self._index = -1
        self._mono = 0.0
        self.disputes = 0  # second reads that read another code where one was read

    def keep(self, index: int, mono: float, image: Image, reading: Reading) -> None:
        """Remember the linear reads of read frame ``index``, forgetting the last frame's."""
        kept: list[_Kept] = []
        for sighting in reading.sightings:
            for symbol in sighting.symbols:
                if symbol.symbology in LINEAR_FORMATS:
                    kept.append(_Kept(symbol, cut_view(image, symbol, sighting.region)))
        for symbol in reading.loose:
            if symbol.symbology in LINEAR_FORMATS:
                kept.append(_Kept(symbol, cut_view(image, symbol, None)))
        self._kept, self._index, self._mono = kept, index, mono
        for each in kept:
            self._singles.pop(each.symbol.key, None)
            self._singles[each.symbol.key] = (index, each)
        while len(self._singles) > KEPT_SINGLES:
            del self._singles[next(iter(self._singles))]

    def still(self, index: int, mono: float) -> list[Symbol]:
        """The reads still frame ``index`` confirms: each kept read once more, while
        independent reads agreed more often than it has been handed on so far and its
        passage may still want one."""
        if index != self._index + 1 and mono - self._mono > self._window_s:
            return []  # too long after the read: its passages close, and confirm then
        confirmed: list[Symbol] = []
        for kept in self._kept:
            if kept.handed < min(self._wanted, self._agreed(kept)):
                kept.handed += 1
                confirmed.append(kept.symbol)
        return confirmed

    def at_close(self, track: Track, wanted: int) -> int:
        """How many of ``wanted`` more agreeing reads a closing passage gets: those of its
        read in the last read frame, when it was last seen there (no frame came after it
        within the window, or none at all)."""
        if track.last_index != self._index:
            return self._by_rows(track, wanted)
        same = [kept for kept in self._kept if kept.symbol.key == track.symbol.key]
        if not same:
            return 0
        kept = min(same, key=lambda k: math.dist(k.symbol.centre, track.last_centre))
        given = min(wanted, max(0, self._agreed(kept) - kept.handed))
        kept.handed += given
        return given

    def _by_rows(self, track: Track, wanted: int) -> int:
        """One more agreeing read for a passage decoded in a single earlier frame, where
        its view there reads the code in enough bands and another code in none."""
        single = self._singles.get(track.symbol.key)
        if wanted < 1 or track.decodes != 1 or single is None:
            return 0
        index, kept = single
        if index != track.first_index or kept.symbol.text != track.symbol.text:
            return 0
        if kept.agreed is not None:
            return 0  # judged by the second reads already (a still scene): that stands
        region = kept.view.region
        if kept.symbol.symbology in _FRAGMENTS and region is not None and region.edge:
            # Cut by the frame's border: half an EAN-13 entering the view reads as a UPC-E,
            # and every band of the cut view reads the same fragment.
            return 0
        if doubly_checked(kept.symbol):
            logger.debug("%r read in one frame: confirmed by its check digits", kept.symbol.text)
            return 1
        vote = self._rows.vote(kept.view, kept.symbol, same_code)
        if vote.dispute:
            self.disputes += 1
        return 1 if vote.confirms(ROW_AGREEMENT) else 0

    def doubts(self, image: Image, symbol: Symbol, region: Region) -> bool:
        """Whether ``symbol``, an EAN/UPC or ITF read about to be confirmed by frames, is
        doubted by its own view in ``image``: at least :data:`ROW_AGREEMENT` of its bands,
        read apart, read another code of its length, and more of them than read it (one
        or two bands of a worn label misread now and then). Such a misread (print gain
        read as other digits, a check digit that fits) can repeat frame after frame; once
        carried it is decoded no more, and the real code never gets the frames to outvote
        it."""
        formats = _MOD10_ONLY.get(symbol.symbology)
        if formats is None:
            return False
        vote = self._rows.vote(cut_view(image, symbol, region), symbol, same_code, formats)
        if vote.dispute >= ROW_AGREEMENT and vote.dispute > vote.agree:
            self.disputes += 1
            logger.info(
                "%s %r read in frames but doubted by its bands (%d read another code, %d "
                "it): decoded again",
                symbol.symbology,
                symbol.text,
                vote.dispute,
                vote.agree,
            )
            return True
        return False

    def _agreed(self, kept: _Kept) -> int:
        """The independent reads that agree with ``kept``'s (asked once): 0 on a dispute."""
        if kept.agreed is None:
            kept.agreed = self._judge(kept)
        return kept.agreed

    def _judge(self, kept: _Kept) -> int:
        symbol = kept.symbol
        agreed = 0
        for found in self._reader.looks(kept.view, symbol):
            linear = [other for other in found if other.symbology in LINEAR_FORMATS]
            if any(same_code(symbol, other) for other in linear):
                agreed += 1
            elif linear:
                self.disputes += 1
                logger.info(
                    "a second read of %s %r read %s instead: not confirmed",
                    symbol.symbology,
                    symbol.text,
                    ", ".join(f"{other.symbology} {other.text!r}" for other in linear),
                )
                return 0
        # The bands of the view, read apart, are one more look; a band of a real photo
        # reads a misread of its own now and then, which denies this look, not the others.
        vote = self._rows.vote(kept.view, symbol, same_code)
        agreed += int(vote.confirms(ROW_AGREEMENT))
        # A read only the other decoder made of a whole picture is one agreement short.
        return max(0, agreed - self._reader.owed(symbol))
