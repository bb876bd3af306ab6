"""One located region followed across frames, and the belt's motion the regions show.

:class:`RegionTrack` is what :class:`~linetrace.edge.line.regions.RegionTracker` keeps
per region: where it was, what decoded in it and how often, and the evidence a no-read
needs (how often it was seen whole, how large, its snapshot).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.formats import LINEAR_FORMATS
from linetrace.edge.vision.locate import CELL_PX, Region
from linetrace.edge.vision.reading import Sighting
from linetrace.edge.vision.stack import ViewStack

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = [
    "MIN_NOREAD_AREA",
    "MIN_WHOLE_FRAMES",
    "Key",
    "RegionTrack",
    "Velocity",
    "belt_from_regions",
    "shifted",
]

Key = tuple[str, str]
Velocity = tuple[float, float]

# A no-read must have been seen whole more than once: one frame could be a passing glint.
MIN_WHOLE_FRAMES = 2
# ... and at least this large (pixels²): a GS1 DataMatrix, the smallest carrier on a label,
# is 20x20 modules at >= 2 px, 40x40 px; a covered linear code leaves a strip of bars at
# least that size. Where edges of box, label, rail and belt seam cross, a few cells light
# up: a speck, however often it is seen.
MIN_NOREAD_AREA = 1600.0
# Until a code has measured the belt, the regions do: the shift that at least this many
# pairs of whole regions of about the same size (within this area ratio) agree on, within
# this many pixels a second (a cell a frame at 30 fps: an outline wobbles by about that).
MIN_VOTES = 2
ALIKE_AREA_RATIO = 1.5
VOTE_TOLERANCE_PX_S = CELL_PX * 30.0


@dataclass(slots=True, eq=False)
class RegionTrack:
    """One located region followed across frames; compared by identity."""

    key: int
    region: Region
    first_seen: datetime
    last_seen: datetime
    first_mono: float
    last_mono: float
    last_index: int
    first_centre: tuple[float, float]
    first_index: int = 0
    frames: int = 1
    whole: int = 0  # frames in which it was seen not cut by the frame's border
    largest: float = 0.0  # largest whole area seen, pixels²
    code_area: float = 0.0  # largest whole code-like area; its label's parts' together
    whole_at: set[int] = field(default_factory=set)  # the frames it was seen whole in
    carried: bool = False  # matched a hint: a label already read
    near_read: bool = False  # next to a read region in some frame
    decodes: dict[Key, int] = field(default_factory=dict)
    symbols: dict[Key, Symbol] = field(default_factory=dict)  # last decode of each code
    anchors: dict[Key, tuple[float, float]] = field(default_factory=dict)  # region centre then
    kin: list[RegionTrack] = field(default_factory=list)  # undecoded, on the same label
    # Codes whose bands, read apart, mostly read another code (see Confirmer.doubts):
    # never carried, so the frames to come decode the region and the real code outvotes.
    doubted: set[Key] = field(default_factory=set)
    voted: set[Key] = field(default_factory=set)  # codes whose bands were asked, once
    judged: set[int] = field(default_factory=set)  # keys of tracks already compared with
    snapshot: Image | None = None
    snapshot_score: float = -1.0  # 0 for a cut view, else the area of the view kept
    merged: bool = False  # its label's no-read is another track's to report
    reported: bool = False  # it reported its label's no-read
    views: ViewStack | None = None  # its recent views while undecoded, to combine

    @property
    def decoded(self) -> bool:
        return bool(self.decodes)

    @property
    def velocity(self) -> Velocity | None:
        span = self.last_mono - self.first_mono
        if span <= 0:
            return None
        (x0, y0), (x1, y1) = self.first_centre, self.region.centre
        return ((x1 - x0) / span, (y1 - y0) / span)

    def predicted(self, mono: float, belt: Velocity | None) -> Region:
        """Where this track's region should be at ``mono``: moved with the belt, or at its
        own velocity while the belt's is unknown.

        The belt's velocity (learned from decoded codes, whose positions are exact) beats a
        region's own: a label entering or leaving the view grows or shrinks, and its
        outline's centre moves at half the belt's speed meanwhile.
        """
        velocity = belt or self.velocity
        if velocity is None:
            return self.region
        ahead = mono - self.last_mono
        return self.region.moved(velocity[0] * ahead, velocity[1] * ahead)

    def confirmed(self, linear_confirmations: int) -> list[Symbol]:
        """The codes read often enough to stop decoding this region: as often as a code
        needs, and that much more often than any other text of its symbology read here.
        A linear misread whose check digit fits can repeat in two frames; carried along
        from then on it would outnumber the real code, read once before, in frames. A
        doubted code is never confirmed here, for the same reason."""
        confirmed: list[Symbol] = []
        for key, count in self.decodes.items():
            if key in self.doubted:
                continue
            needed = linear_confirmations if key[0] in LINEAR_FORMATS else 1
            rivals = [n for (symbology, _), n in self.decodes.items() if symbology == key[0]]
            if count >= needed + sum(rivals) - count:
                confirmed.append(self.symbols[key])
        return confirmed

    def doubt_once(
        self,
        symbol: Symbol,
        region: Region,
        gray: Image,
        doubts: Callable[[Image, Symbol, Region], bool],
        linear_confirmations: int,
    ) -> bool:
        """Whether ``symbol``, a linear read here that now has the decodes to be confirmed,
        is newly doubted by ``doubts`` on ``region`` of ``gray``: asked once per code."""
        key = symbol.key
        if key in self.voted or symbol.symbology not in LINEAR_FORMATS:
            return False
        if self.decodes.get(key, 0) < linear_confirmations:
            return False
        self.voted.add(key)
        if not doubts(gray, symbol, region):
            return False
        self.doubted.add(key)
        return True

    def carried_symbols(self, linear_confirmations: int) -> list[Symbol]:
        """The confirmed codes, moved along with the region since they were decoded."""
        moved: list[Symbol] = []
        cx, cy = self.region.centre
        for symbol in self.confirmed(linear_confirmations):
            ax, ay = self.anchors[symbol.key]
            moved.append(shifted(symbol, cx - ax, cy - ay))
        return moved

    @property
    def is_noread(self) -> bool:
        """Whether this closed track is a symbol that passed without ever decoding."""
        return (
            not self.decoded
            and not self.carried
            and not self.merged
            and not self.near_read
            and self.whole >= MIN_WHOLE_FRAMES
            and max(self.largest, self.code_area) >= MIN_NOREAD_AREA
        )


def belt_from_regions(
    tracks: Iterable[RegionTrack], sightings: Sequence[Sighting], mono: float, window_s: float
) -> Velocity | None:
    """The belt's velocity from the regions themselves, while no code has measured it:
    the shift most pairs of (whole, alike) regions agree on since the last frame;
    None when too few agree."""
    moves: list[Velocity] = []
    for track in tracks:
        span = mono - track.last_mono
        if track.region.edge or not 0 < span <= window_s:
            continue
        for sighting in sightings:
            region = sighting.region
            if region.edge or not _alike(region, track.region):
                continue
            (x0, y0), (x1, y1) = track.region.centre, region.centre
            moves.append(((x1 - x0) / span, (y1 - y0) / span))
    best: list[Velocity] = []
    for move in moves:
        agreeing = [other for other in moves if _close(move, other)]
        if len(agreeing) > len(best):
            best = agreeing
    if len(best) < MIN_VOTES:
        return None
    return (sum(v[0] for v in best) / len(best), sum(v[1] for v in best) / len(best))


def _alike(first: Region, second: Region) -> bool:
    """About the same size: maybe one region seen twice."""
    return 1 / ALIKE_AREA_RATIO <= first.area / max(second.area, 1.0) <= ALIKE_AREA_RATIO


def _close(first: Velocity, second: Velocity) -> bool:
    return math.dist(first, second) <= VOTE_TOLERANCE_PX_S


def shifted(symbol: Symbol, dx: float, dy: float) -> Symbol:
    """``symbol`` moved by ``(dx, dy)`` pixels."""
    corners = tuple((round(x + dx), round(y + dy)) for x, y in symbol.corners)
    return Symbol(
        symbology=symbol.symbology,
        symbology_id=symbol.symbology_id,
        text=symbol.text,
        gs1=symbol.gs1,
        corners=(corners[0], corners[1], corners[2], corners[3]),
        orientation=symbol.orientation,
        ec_used=symbol.ec_used,
        decoder=symbol.decoder,
    )
