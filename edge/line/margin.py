"""Decode margin: how close the station's codes are to becoming unreadable.

A printer that fades, a smudged ribbon or a camera going out of focus does not make
codes unreadable at once; they first get harder to read. Two signs show it early, each a
rolling average over the last :data:`WINDOW` reads:

* ``frames_to_first_read``: frames an item was in view before its first read (needs the
  frame a locator first found the symbol in; the synthetic truth knows it for tests).
  A crisp code is read on entry; a weak one only once it sits in the best light.
* ``ec_used``: the share of a 2D code's error correction the decoder had to spend
  (zxing-cpp 3.x reports the unused share as ``Barcode.extra["UEC"]``; ``ec_level`` is
  only the level the code was printed with, and ``error`` describes failed reads).
  A fresh Data Matrix needs none; damage eats into it until the code fails.

A value is averaged only over the reads that report it, so a station with only linear
codes simply has no ``ec_used``.
"""

from __future__ import annotations

import threading
from collections import deque
from dataclasses import dataclass

from linetrace.edge.line.passage import Passage

__all__ = [
    "WINDOW",
    "DecodeMargin",
    "MarginFigures",
    "frames_to_first_read",
]

# Reads averaged: about a minute of a line at 2 items/s, enough to smooth one odd label
# and short enough that a printer fading over minutes moves the average.
WINDOW = 100


def frames_to_first_read(passage: Passage) -> int | None:
    """Frames the symbol was in view before its first read; None when unknown."""
    if passage.first_frame is None or passage.first_frame_in_view is None:
        return None
    return max(0, passage.first_frame - passage.first_frame_in_view)


@dataclass(frozen=True, slots=True)
class MarginFigures:
    """Rolling averages for status and metrics; None until a read reported the value."""

    frames_to_first_read: float | None
    ec_used: float | None


class DecodeMargin:
    """Rolling averages of the decode margin over the last ``window`` reads; thread-safe."""

    def __init__(self, window: int = WINDOW) -> None:
        if window < 1:
            raise ValueError(f"window must be at least 1, got {window}")
        self._lock = threading.Lock()
        self._first_read: deque[int] = deque(maxlen=window)
        self._ec: deque[float] = deque(maxlen=window)

    def add(self, passage: Passage) -> None:
        """Take one read passage's margin into the averages (no-reads have none)."""
        first = frames_to_first_read(passage)
        with self._lock:
            if first is not None:
                self._first_read.append(first)
            if passage.ec_used is not None:
                self._ec.append(passage.ec_used)

    def figures(self) -> MarginFigures:
        with self._lock:
            return MarginFigures(
                frames_to_first_read=_mean(self._first_read),
                ec_used=_mean(self._ec),
            )


def _mean(values: deque[int] | deque[float]) -> float | None:
    return sum(values) / len(values) if values else None
