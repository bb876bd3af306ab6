"""From per-frame reads to item passages: one passage per item, however many frames saw it.

A camera sees each item in many frames, and a label can drop out for a frame or two
(glare, motion blur, an arm in the way). The tracker joins reads of the same code
(symbology and text) into one passage when they come in consecutive frames or within
``window_s`` seconds of each other, and closes a passage once its code has been absent
for longer than the window, or at the end of the stream. Time is the source's monotonic
clock (``mono``; never the wall clock, which may be stepped) less the source's pauses
(``paused``, from :class:`~linetrace.edge.line.stream_clock.StreamClock`): a source that
stalls for a moment has shown nothing leave, so a pause neither closes a passage nor
counts towards its window.

Codes are not always unique: every can of one product carries the same EAN-13, and two
of them can be in view at once or follow each other closely. So a read joins a passage
of its code only where that passage's symbol is expected to be: the tracker follows
each passage's position and average velocity (a belt moves items steadily) and accepts
a read within :data:`GATE_SIZES` symbol sizes of the predicted spot. A read of the code
anywhere else is another item. A passage seen in one frame only has no velocity of its
own yet; it is predicted to move with the belt, whose velocity the tracker learns from
the passages it has followed (every item on a belt moves alike). After a pause of the
source, a symbol is looked for both where it was heading when the pause began (the
source held its frames back) and where it has moved to meanwhile (the camera missed
frames while the belt ran).

Serialised codes (a GTIN with a serial number, an SSCC) name one item by themselves, so
for those the text alone decides: a read of the code within the window continues its
passage wherever it lands. The pipeline says which codes are serialised.

The same rule catches misreads. A linear code can decode to a wrong text whose check
digit happens to fit (one time in ten for EAN-13); the real code is then read in most
frames and the wrong one in a few, at the same spot. One spot holds one symbol, so two
passages of one symbology with different texts at the same place and time are rivals,
and a passage that a rival outnumbers in frames is :attr:`Track.outvoted`. A misread can
also repeat in more frames than the real code gets; when the bands of its own view read
another code (:meth:`PassageTracker.doubt`, asked by the pipeline), it is doubted: never
reported, and never outvoting its rival.

A passage counts the frames that saw its code (``frames``) and, among them, the frames
that actually decoded it (``decodes``): once a label has been read, the reader may stop
decoding it and report it *carried* along the belt instead (see
:mod:`linetrace.edge.vision.reader`). A carried sighting keeps its passage open and counts as
seen, but only decodes confirm a linear code, and a carried sighting never starts a
passage.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

from linetrace.edge.vision.decode import Symbol

__all__ = ["GATE_SIZES", "PassageTracker", "Track"]

logger = logging.getLogger(__name__)

# How far (in sizes of the symbol) a read may land from where its passage's symbol is
# predicted and still be that symbol. A decoder's reported position wobbles by well under
# a size between frames (a 1D code is located on whichever scan line decoded it, anywhere
# along its bars), while another item with the same code sits at least a box away: more
# than a full label, hence more than a symbol size, from the first.
GATE_SIZES = 0.8
# How quickly the belt velocity follows new measurements: slow enough to average out
# position noise over several items, fast enough to follow a line that changes speed.
BELT_SMOOTHING = 0.2

Key = tuple[str, str]
Velocity = tuple[float, float]


@dataclass(slots=True, eq=False)
class Track:
    """One item's code followed across frames; ``symbol`` is its first read.

    Compared by identity: two tracks are the same passage only if they are one object.
    """

    symbol: Symbol
    first_seen: datetime
    last_seen: datetime
    first_mono: float
    last_mono: float
    last_index: int
    first_centre: tuple[float, float]
    last_centre: tuple[float, float]
    frames: int = 1
    decodes: int = 1
    first_index: int = 0  # the frame of the first read
    first_paused: float = 0.0  # the source's pauses so far, at the first read
    last_paused: float = 0.0  # ... and at the last
    rivals: list[Track] = field(default_factory=list)
    # Its own view's bands mostly read another code (see PassageTracker.doubt): a misread
    # that repeats, never reported and never outvoting the code it hides.
    doubted: bool = False
    # The most error correction any decode of this passage spent: the margin warns before
    # codes fail, and the read nearest to failing is the first to show a fading printer.
    ec_used: float | None = None

    @classmethod
    def start(
        cls, symbol: Symbol, index: int, mono: float, wall: datetime, paused: float = 0.0
    ) -> Track:
        centre = symbol.centre
        return cls(
            symbol, wall, wall, mono, mono, index, centre, centre, first_index=index,
            first_paused=paused, last_paused=paused, ec_used=symbol.ec_used,
        )  # fmt: skip

    def idle(self, mono: float, paused: float = 0.0) -> float:
        """Seconds since the last sighting at ``mono``, the source's pauses left out."""
        return mono - paused - (self.last_mono - self.last_paused)

    def continues_at(self, index: int, mono: float, window_s: float, paused: float = 0.0) -> bool:
        """Whether frame ``index`` at ``mono`` is still within this passage's time."""
        return index == self.last_index + 1 or self.idle(mono, paused) <= window_s

    @property
    def velocity(self) -> Velocity | None:
        """Average velocity since the first sighting (pixels per second), once it has one.

        The average, not the last step: a step between two frames is mostly position
        noise, a longer span is mostly real motion.
        """
        span = self.last_mono - self.last_paused - (self.first_mono - self.first_paused)
        if span <= 0:
            return None
        (x0, y0), (x1, y1) = self.first_centre, self.last_centre
        return ((x1 - x0) / span, (y1 - y0) / span)

    def predicted(
        self, mono: float, belt: Velocity | None = None, paused: float = 0.0
    ) -> tuple[float, float]:
        """Where the symbol should be at ``mono``: moving at its own velocity, or the belt's,
        for the time since its last sighting less the source's pauses meanwhile."""
        return self._ahead(self.idle(mono, paused), belt)

    def distance(
        self, symbol: Symbol, mono: float, belt: Velocity | None = None, paused: float = 0.0
    ) -> float:
        """How far ``symbol`` is from this passage's predicted spot, in symbol sizes; after
        a pause, from the nearer of the spots with and without the pause's motion."""
        spots = [self.predicted(mono, belt, paused)]
        if paused > self.last_paused:
            spots.append(self._ahead(mono - self.last_mono, belt))
        cx, cy = symbol.centre
        return min(math.hypot(cx - px, cy - py) for px, py in spots) / symbol.size

    def _ahead(self, seconds: float, belt: Velocity | None) -> tuple[float, float]:
        velocity = self.velocity or belt
        if velocity is None:
            return self.last_centre
        x1, y1 = self.last_centre
        return (x1 + velocity[0] * seconds, y1 + velocity[1] * seconds)

    @property
    def outvoted(self) -> bool:
        """True when a rival at the same spot, not doubted, was read in more frames: this
        is a misread."""
        return any(rival.frames > self.frames and not rival.doubted for rival in self.rivals)

    def extend(
        self,
        symbol: Symbol,
        index: int,
        mono: float,
        wall: datetime,
        *,
        decoded: bool = True,
        paused: float = 0.0,
    ) -> None:
        self.last_seen, self.last_mono, self.last_index = wall, mono, index
        self.last_paused = paused
        self.last_centre = symbol.centre
        self.frames += 1
        self.decodes += int(decoded)
        if decoded and symbol.ec_used is not None:
            self.ec_used = max(symbol.ec_used, self.ec_used or 0.0)


class PassageTracker:
    """Joins reads into passages; hands back each passage once, when it closes."""

    def __init__(
        self,
        window_s: float,
        gate_sizes: float = GATE_SIZES,
        serialised: Callable[[Symbol], bool] | None = None,
    ) -> None:
        """``serialised(symbol)`` says whether a code names one item by itself."""
        if window_s < 0:
            raise ValueError(f"window_s must not be negative, got {window_s}")
        if gate_sizes <= 0:
            raise ValueError(f"gate_sizes must be positive, got {gate_sizes}")
        self.window_s = window_s
        self.gate_sizes = gate_sizes
        self._serialised = serialised or (lambda symbol: False)
        self._open: dict[Key, list[Track]] = {}
        self._paused = 0.0  # the source's pauses up to the frame being observed
        self.belt: Velocity | None = None

    @property
    def open_count(self) -> int:
        """How many passages are still open."""
        return sum(len(tracks) for tracks in self._open.values())

    def observe(
        self,
        index: int,
        mono: float,
        wall: datetime,
        symbols: Iterable[Symbol],
        carried: Iterable[Symbol] = (),
        *,
        paused: float = 0.0,
    ) -> list[Track]:
        """Add one frame's reads; return the passages this frame closed, oldest first.

        ``carried`` are symbols seen but not decoded in this frame (labels already read,
        followed along the belt): they extend their open passage and start none.
        ``paused`` is the seconds of the source's pauses up to this frame (never less than
        for the frame before): the tracker's time is ``mono - paused``.
        """
        self._paused = paused
        by_key: dict[Key, list[Symbol]] = {}
        for symbol in symbols:
            by_key.setdefault(symbol.key, []).append(symbol)
        touched: set[Track] = set()
        for key, reads in by_key.items():
            self._assign(key, _distinct(reads), index, mono, wall, touched)
        for symbol in carried:
            self._carry(symbol, index, mono, wall, touched)
        return self._close_idle(mono, touched)

    def _carry(
        self, symbol: Symbol, index: int, mono: float, wall: datetime, touched: set[Track]
    ) -> None:
        """Extend the open passage ``symbol`` belongs to, if any, without a decode."""
        serialised = self._serialised(symbol)
        candidates = [
            (track.distance(symbol, mono, self.belt, self._paused), track)
            for track in self._open.get(symbol.key, [])
            if track not in touched and self._continues(track, index, mono)
        ]
        near = [
            (distance, track)
            for distance, track in candidates
            if serialised or distance <= self.gate_sizes
        ]
        if not near:
            return
        _, track = min(near, key=lambda pair: pair[0])
        track.extend(symbol, index, mono, wall, decoded=False, paused=self._paused)
        touched.add(track)

    def finish(self) -> list[Track]:
        """Close every open passage: the stream has ended."""
        closed = [track for tracks in self._open.values() for track in tracks]
        self._open.clear()
        return _oldest_first(closed)

    def _assign(
        self,
        key: Key,
        reads: list[Symbol],
        index: int,
        mono: float,
        wall: datetime,
        touched: set[Track],
    ) -> None:
        """Extend the nearest open passage of ``key`` with each read; start one otherwise."""
        tracks = self._open.setdefault(key, [])
        if self._serialised(reads[0]):
            self._assign_serialised(tracks, reads[0], index, mono, wall, touched)
            return
        pairs = sorted(
            (distance, t, r)
            for t, track in enumerate(tracks)
            if self._continues(track, index, mono)
            for r, read in enumerate(reads)
            if (distance := track.distance(read, mono, self.belt, self._paused)) <= self.gate_sizes
        )
        used_tracks: set[int] = set()
        used_reads: set[int] = set()
        for _, t, r in pairs:
            if t in used_tracks or r in used_reads:
                continue
            used_tracks.add(t)
            used_reads.add(r)
            self._extend(tracks[t], reads[r], index, mono, wall)
            touched.add(tracks[t])
        for r, read in enumerate(reads):
            if r not in used_reads:
                track = Track.start(read, index, mono, wall, self._paused)
                self._link_rivals(track, index, mono)
                tracks.append(track)
                touched.add(track)

    def doubt(self, symbol: Symbol, index: int) -> None:
        """Mark the open passage that ``symbol``, read in frame ``index``, joined as
        doubted (the nearest of its code's there: two items may carry one code)."""
        joined = [t for t in self._open.get(symbol.key, []) if t.last_index == index]
        if joined:
            min(joined, key=lambda t: math.dist(t.last_centre, symbol.centre)).doubted = True

    def _assign_serialised(
        self,
        tracks: list[Track],
        read: Symbol,
        index: int,
        mono: float,
        wall: datetime,
        touched: set[Track],
    ) -> None:
        """A serialised code continues its open passage wherever it is read."""
        for track in tracks:
            if self._continues(track, index, mono):
                self._extend(track, read, index, mono, wall)
                touched.add(track)
                return
        track = Track.start(read, index, mono, wall, self._paused)
        self._link_rivals(track, index, mono)
        tracks.append(track)
        touched.add(track)

    def _continues(self, track: Track, index: int, mono: float) -> bool:
        return track.continues_at(index, mono, self.window_s, self._paused)

    def _extend(self, track: Track, read: Symbol, index: int, mono: float, wall: datetime) -> None:
        track.extend(read, index, mono, wall, paused=self._paused)
        velocity = track.velocity
        if velocity is None:
            return
        if self.belt is None:
            self.belt = velocity
        else:
            (bx, by), (vx, vy) = self.belt, velocity
            self.belt = (
                bx + BELT_SMOOTHING * (vx - bx),
                by + BELT_SMOOTHING * (vy - by),
            )

    def _link_rivals(self, new: Track, index: int, mono: float) -> None:
        """Make ``new`` and every open passage of another text at its spot rivals."""
        symbology, text = new.symbol.key
        for (other_symbology, other_text), tracks in self._open.items():
            if other_symbology != symbology or other_text == text:
                continue
            for track in tracks:
                if (
                    self._continues(track, index, mono)
                    and track.distance(new.symbol, mono, self.belt, self._paused) <= self.gate_sizes
                ):
                    track.rivals.append(new)
                    new.rivals.append(track)

    def _close_idle(self, mono: float, touched: set[Track]) -> list[Track]:
        closed: list[Track] = []
        for key in list(self._open):
            keep: list[Track] = []
            for track in self._open[key]:
                idle = track not in touched and track.idle(mono, self._paused) > self.window_s
                (closed if idle else keep).append(track)
            if keep:
                self._open[key] = keep
            else:
                del self._open[key]
        return _oldest_first(closed)


def _distinct(reads: list[Symbol]) -> list[Symbol]:
    """One read per symbol: a decoder may report the same symbol twice in one frame."""
    kept: list[Symbol] = []
    for read in reads:
        cx, cy = read.centre
        if all(
            math.hypot(cx - other.centre[0], cy - other.centre[1]) > other.size / 2
            for other in kept
        ):
            kept.append(read)
    return kept


def _oldest_first(tracks: list[Track]) -> list[Track]:
    return sorted(tracks, key=lambda track: (track.first_mono, track.symbol.key))
