"""Following located regions along the belt: which labels were read, which never were.

The code tracker (:mod:`linetrace.edge.track`) only knows what decoded. A no-read is the
opposite, a symbol that was there and never decoded, so it needs the regions the locator
found, followed from frame to frame like items on a belt: a region belongs to the open
:class:`RegionTrack` it overlaps most where that track is predicted to be now (moved with
the belt, whose velocity the code tracker measures, or, before any code has, the regions
themselves), and starts a new track otherwise.

A track that decoded something is a read label: once its code is confirmed (two agreeing
frames for a linear code, one for a matrix code) it is handed to the reader as a
:class:`~linetrace.edge.reader.Hint`, so the next frames skip decoding it. A track that
closes without any decode is a no-read candidate, and becomes a no-read only if

* it was seen whole (not cut by the frame's border) in at least :data:`MIN_WHOLE_FRAMES`
  frames, and was large enough to be a symbol at least once: a label entering or leaving
  the view, or a speck of texture where edges cross, is not a symbol that failed;
* it was never next to a read region in the same frame: a label's caption block found
  apart from its symbol belongs to that read label, not to another item.

Undecoded tracks of one label make one no-read: regions next to each other (a symbol and
its caption), the two ends of a linear code either side of a sticker, and a sliver too
small to be a symbol beside a larger patch. Each keeps its largest whole view as the
snapshot.

Known limit: printed text on a box (not a label) that is located as code-like, away from
any read label, is reported as a no-read; its snapshot shows what it was, and the station's
``roi`` can keep the search to where labels pass.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.decode import LINEAR_FORMATS, Symbol
from linetrace.edge.locate import CELL_PX, MARGIN_PX, Region
from linetrace.edge.reader import Hint, Sighting

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["MIN_WHOLE_FRAMES", "RegionTrack", "RegionTracker"]

Key = tuple[str, str]
Velocity = tuple[float, float]

# A no-read must have been seen whole more than once: one frame could be a passing glint.
MIN_WHOLE_FRAMES = 2
# ... and at least this large (pixels²) once: a GS1 DataMatrix, the smallest carrier on a
# label, is 20x20 modules at >= 2 px, 40x40 px; a covered linear code leaves a strip of bars
# at least that size. Where edges of box, label and belt seam cross, a few cells light up.
MIN_NOREAD_AREA = 1600.0
# Regions this close (pixels between their outlines) in one frame are parts of one label.
# A caption is printed 4 modules (8-16 px) from its symbol, but located regions end where
# the edges thin out, up to 20 px inside what is printed, so they can be 40 px apart;
# labels on two boxes are two box margins and a belt gap apart, 50 px and more, plus
# the same shrinkage.
NEAR_PX = 5 * CELL_PX
# Until a code has measured the belt, the regions do: the shift that at least this many
# pairs of whole regions of about the same size (within this area ratio) agree on, within
# this many pixels a second (a cell a frame at 30 fps: an outline wobbles by about that).
MIN_VOTES = 2
ALIKE_AREA_RATIO = 1.5
VOTE_TOLERANCE_PX_S = CELL_PX * 30.0
# Two undecoded regions are the remains of one linear code when their bars agree within
# this many degrees, they lie on one line across the bars, and their centres are no further
# apart than the longest linear code on a label at 720p-class resolution (a GS1-128 SSCC at
# 2.6 px per module, quiet zones included, ~700 px).
BARS_TOLERANCE = 15.0
MAX_LINEAR_SPAN_PX = 800.0
# A patch under this area (pixels², 64x64) is smaller than any whole symbol on a label at
# 720p-class resolution; one within this reach (pixels, centre to centre: the size of a
# label) of another undecoded patch is a sliver of that patch's label.
MIN_SYMBOL_AREA = 4096.0
LABEL_REACH_PX = 300.0
# A region is its track's when it overlaps where the track is predicted by at least this
# share of the smaller of the two: the outline of one label wobbles by about a cell between
# frames and grows or shrinks as the label enters or leaves the view, while two labels
# never overlap at all.
MIN_OVERLAP = 0.3


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
    whole: int = 0  # sightings not cut by the frame's border
    largest: float = 0.0  # largest whole area seen, pixels²
    carried: bool = False  # matched a hint: a label already read
    near_read: bool = False  # next to a read region in some frame
    decodes: dict[Key, int] = field(default_factory=dict)
    symbols: dict[Key, Symbol] = field(default_factory=dict)  # last decode of each code
    anchors: dict[Key, tuple[float, float]] = field(default_factory=dict)  # region centre then
    neighbours: list[RegionTrack] = field(default_factory=list)  # undecoded, adjacent
    kin: list[RegionTrack] = field(default_factory=list)  # undecoded, of one label further off
    snapshot: Image | None = None
    snapshot_score: float = -1.0  # 0 for a cut view, else the area of the view kept
    merged: bool = False  # its no-read went to a partner

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
        """The codes read often enough to stop decoding this region."""
        return [
            self.symbols[key]
            for key, count in self.decodes.items()
            if count >= (linear_confirmations if key[0] in LINEAR_FORMATS else 1)
        ]

    def carried_symbols(self, linear_confirmations: int) -> list[Symbol]:
        """The confirmed codes, moved along with the region since they were decoded."""
        moved: list[Symbol] = []
        cx, cy = self.region.centre
        for symbol in self.confirmed(linear_confirmations):
            ax, ay = self.anchors[symbol.key]
            moved.append(_shifted(symbol, cx - ax, cy - ay))
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
            and self.largest >= MIN_NOREAD_AREA
        )


class RegionTracker:
    """Joins each frame's located regions into tracks; hands back each track once, closed.

    ``belt`` is the belt's velocity in pixels per second, when known: the owner sets it
    from the code tracker, which measures it on decoded symbols.
    """

    def __init__(self, window_s: float, linear_confirmations: int) -> None:
        self.window_s = window_s
        self.linear_confirmations = linear_confirmations
        self._open: dict[int, RegionTrack] = {}
        self._keys = itertools.count(1)
        self._last_seen: list[RegionTrack] = []
        self._measured: Velocity | None = None  # the belt as the regions saw it
        # Each code's region: the frame it was first located in, however much later it
        # decoded (how much sooner a code could have been read: the decode margin).
        self.first_located: dict[Key, int] = {}
        self.belt: Velocity | None = None

    @property
    def open_count(self) -> int:
        return len(self._open)

    def hints(self, mono: float) -> list[Hint]:
        """Labels already read, where they should be at ``mono``: the reader skips them."""
        hints: list[Hint] = []
        for track in self._open.values():
            # A label unseen for longer than the window may be another one by now.
            if mono - track.last_mono > self.window_s:
                continue
            if track.confirmed(self.linear_confirmations):
                region = track.predicted(mono, self.belt)
                hints.append(Hint(track.key, region))
        return hints

    def observe(
        self,
        index: int,
        mono: float,
        wall: datetime,
        sightings: Sequence[Sighting],
        image: Image | None = None,
    ) -> tuple[list[Symbol], list[RegionTrack]]:
        """Add one frame's sightings: the symbols carried this frame, and the tracks closed.

        ``image`` is the frame (as read), for snapshots of regions not decoded yet.
        """
        touched: dict[int, RegionTrack] = {}
        carried: list[Symbol] = []
        pending: list[Sighting] = []
        followed: list[tuple[RegionTrack, Sighting]] = []
        for sighting in sightings:
            track = self._open.get(sighting.carried) if sighting.carried is not None else None
            if (
                track is not None
                and track.key not in touched
                and mono - track.last_mono <= self.window_s
            ):
                self._extend(track, sighting, index, mono, wall)
                touched[track.key] = track
                carried += track.carried_symbols(self.linear_confirmations)
                followed.append((track, sighting))
            else:
                pending.append(sighting)
        placed = self._place(pending, index, mono, wall, touched)
        self._mark_neighbours(followed + placed)
        if image is not None:
            for track, sighting in placed:
                if not track.decoded and not track.carried:
                    _keep_snapshot(track, sighting.region, image)
        self._last_seen = list(touched.values())
        return carried, self._close_idle(mono, touched)

    def observe_still(self, index: int, mono: float, wall: datetime) -> list[RegionTrack]:
        """A frame identical to the last one: whatever was in view still is, unread anew."""
        touched: dict[int, RegionTrack] = {}
        for track in self._last_seen:
            if track.key in self._open:
                track.last_seen, track.last_mono, track.last_index = wall, mono, index
                track.frames += 1
                touched[track.key] = track
        return self._close_idle(mono, touched)

    def finish(self) -> list[RegionTrack]:
        """Close every open track: the stream has ended."""
        closed = sorted(self._open.values(), key=lambda track: track.first_mono)
        self._open.clear()
        return self._settle(closed)

    def _place(
        self,
        sightings: list[Sighting],
        index: int,
        mono: float,
        wall: datetime,
        touched: dict[int, RegionTrack],
    ) -> list[tuple[RegionTrack, Sighting]]:
        """Each sighting onto the open track it overlaps most where predicted, or a new one."""
        belt = self.belt or self._measure_belt(sightings, mono)
        candidates = [
            (track, track.predicted(mono, belt))
            for track in self._open.values()
            if track.key not in touched and mono - track.last_mono <= self.window_s
        ]
        pairs = sorted(
            (
                (score, s, t)
                for s, sighting in enumerate(sightings)
                for t, (track, region) in enumerate(candidates)
                if (score := _affinity(track, region, sighting)) > 0
            ),
            reverse=True,
        )
        placed: dict[int, RegionTrack] = {}
        used: set[int] = set()
        for _, s, t in pairs:
            if s in placed or t in used:
                continue
            used.add(t)
            track = candidates[t][0]
            placed[s] = track
            self._extend(track, sightings[s], index, mono, wall)
            touched[track.key] = track
        result: list[tuple[RegionTrack, Sighting]] = []
        for s, sighting in enumerate(sightings):
            track = placed.get(s) or self._start(sighting, index, mono, wall)
            touched[track.key] = track
            result.append((track, sighting))
        return result

    def _measure_belt(self, sightings: list[Sighting], mono: float) -> Velocity | None:
        """The belt's velocity from the regions themselves, while no code has measured it:
        the shift most pairs of (whole, alike) regions agree on since the last frame."""
        moves: list[Velocity] = []
        for track in self._open.values():
            span = mono - track.last_mono
            if track.region.edge or not 0 < span <= self.window_s:
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
        if len(best) >= MIN_VOTES:
            self._measured = (
                sum(v[0] for v in best) / len(best),
                sum(v[1] for v in best) / len(best),
            )
        return self._measured

    def _start(self, sighting: Sighting, index: int, mono: float, wall: datetime) -> RegionTrack:
        region = sighting.region
        track = RegionTrack(
            next(self._keys), region, wall, wall, mono, mono, index, region.centre, index
        )
        # A hint whose track has closed meanwhile still names a label already read.
        track.carried = sighting.carried is not None
        self._record(track, sighting)
        self._open[track.key] = track
        return track

    def _extend(
        self, track: RegionTrack, sighting: Sighting, index: int, mono: float, wall: datetime
    ) -> None:
        track.region = sighting.region
        track.last_seen, track.last_mono, track.last_index = wall, mono, index
        track.frames += 1
        self._record(track, sighting)

    def _record(self, track: RegionTrack, sighting: Sighting) -> None:
        for symbol in sighting.symbols:
            if symbol.key not in track.decodes:
                self.first_located[symbol.key] = track.first_index
        region = sighting.region
        if not region.edge:
            track.whole += 1
            track.largest = max(track.largest, region.area)
        for symbol in sighting.symbols:
            track.decodes[symbol.key] = track.decodes.get(symbol.key, 0) + 1
            track.symbols[symbol.key] = symbol
            track.anchors[symbol.key] = region.centre

    @staticmethod
    def _mark_neighbours(placed: list[tuple[RegionTrack, Sighting]]) -> None:
        """Regions next to a read one belong to its label; undecoded regions next to each
        other, or in line along one code's axis, to one label."""
        for (a, first), (b, second) in itertools.combinations(placed, 2):
            if a is b:
                continue
            a_read = a.decoded or a.carried
            b_read = b.decoded or b.carried
            if a_read != b_read and _near(first.region, second.region):
                (b if a_read else a).near_read = True
            elif not a_read and not b_read and b not in a.neighbours and b not in a.kin:
                if _near(first.region, second.region):
                    a.neighbours.append(b)
                    b.neighbours.append(a)
                elif _collinear_bars(first.region, second.region) or _sliver(
                    first.region, second.region
                ):
                    a.kin.append(b)
                    b.kin.append(a)

    def _close_idle(self, mono: float, touched: dict[int, RegionTrack]) -> list[RegionTrack]:
        closed = [
            track
            for key, track in self._open.items()
            if key not in touched and mono - track.last_mono > self.window_s
        ]
        for track in closed:
            del self._open[track.key]
        return self._settle(closed)

    def _settle(self, closed: Iterable[RegionTrack]) -> list[RegionTrack]:
        """Settle each closing no-read candidate: part of a read label if an adjacent
        region was read or was next to a read one; else folded into a partner still open
        or already reported, so that one label makes one no-read."""
        settled: list[RegionTrack] = []
        for track in closed:
            if not track.decoded:
                track.near_read = track.near_read or any(
                    partner.decoded or partner.near_read for partner in track.neighbours
                )
                partners = [p for p in track.neighbours + track.kin if not p.decoded]
                for partner in partners:
                    if not track.near_read and (partner.key in self._open or _reported(partner)):
                        _merge(track, partner)
                        break
            settled.append(track)
        return settled


def _reported(track: RegionTrack) -> bool:
    return track.is_noread


def _merge(track: RegionTrack, into: RegionTrack) -> None:
    """Hand ``track``'s evidence to ``into``; ``track`` itself reports nothing."""
    track.merged = True
    into.frames = max(into.frames, track.frames)
    into.whole = max(into.whole, track.whole)
    into.largest = max(into.largest, track.largest)
    if track.snapshot_score > into.snapshot_score:
        into.snapshot, into.snapshot_score = track.snapshot, track.snapshot_score
    into.first_seen = min(into.first_seen, track.first_seen)
    into.last_seen = max(into.last_seen, track.last_seen)


def _affinity(track: RegionTrack, predicted: Region, sighting: Sighting) -> float:
    """How surely ``sighting`` is ``track``'s region: 0 when it is not, more when it
    overlaps the prediction more; a code both decoded makes it surer still."""
    region = sighting.region
    reach = (predicted.extent + region.extent) / 2
    if math.dist(predicted.centre, region.centre) > reach:
        return 0.0
    overlap = _overlap(predicted, region)
    if overlap < MIN_OVERLAP:
        return 0.0
    shared = any(symbol.key in track.decodes for symbol in sighting.symbols)
    return overlap + float(shared)


def _overlap(first: Region, second: Region) -> float:
    """The area two regions share, as a share of the smaller one's."""
    kind, points = cv2.rotatedRectangleIntersection(
        (first.centre, first.size, first.angle), (second.centre, second.size, second.angle)
    )
    if kind == cv2.INTERSECT_NONE or points is None or len(points) < 3:
        return 0.0
    shared = float(cv2.contourArea(cv2.convexHull(points)))
    return shared / max(min(first.area, second.area), 1.0)


def _collinear_bars(first: Region, second: Region) -> bool:
    """Both with bars turned alike, one behind the other along the code's axis (across
    the bars) and on one line: the remains of one linear code either side of what covers
    its middle."""
    if first.bars is None or second.bars is None:
        return False
    if _angle_apart(first.bars, second.bars) > BARS_TOLERANCE:
        return False
    dx = second.centre[0] - first.centre[0]
    dy = second.centre[1] - first.centre[1]
    if math.hypot(dx, dy) > MAX_LINEAR_SPAN_PX:
        return False
    axis = math.radians(first.bars)  # the gradient runs along the code, across its bars
    off_axis = abs(-dx * math.sin(axis) + dy * math.cos(axis))
    bar_height = max(min(first.size), min(second.size))
    return off_axis <= bar_height / 2


def _alike(first: Region, second: Region) -> bool:
    """About the same size: maybe one region seen twice."""
    return 1 / ALIKE_AREA_RATIO <= first.area / max(second.area, 1.0) <= ALIKE_AREA_RATIO


def _close(first: Velocity, second: Velocity) -> bool:
    return math.dist(first, second) <= VOTE_TOLERANCE_PX_S


def _sliver(first: Region, second: Region) -> bool:
    """One region smaller than any symbol, within a label's reach of the other: a few bars
    or modules left beside a sticker, or beside the label's print, belong to that label."""
    if min(first.area, second.area) >= MIN_SYMBOL_AREA:
        return False
    return math.dist(first.centre, second.centre) <= LABEL_REACH_PX


def _angle_apart(first: float, second: float) -> float:
    """Degrees between two undirected angles."""
    apart = abs(first - second) % 180.0
    return min(apart, 180.0 - apart)


def _near(first: Region, second: Region) -> bool:
    """Whether the outlines of two regions come within :data:`NEAR_PX` of each other."""
    grown = [
        (region.centre, (region.size[0] + NEAR_PX, region.size[1] + NEAR_PX), region.angle)
        for region in (first, second)
    ]
    kind, _ = cv2.rotatedRectangleIntersection(grown[0], grown[1])
    return bool(kind != cv2.INTERSECT_NONE)


def _keep_snapshot(track: RegionTrack, region: Region, image: Image) -> None:
    """Keep this view of an undecoded region if it is the largest whole one so far."""
    score = 0.0 if region.edge else region.area
    if score <= track.snapshot_score:
        return
    height, width = image.shape[:2]
    x0, y0, x1, y1 = region.bounds(MARGIN_PX)
    x0, y0, x1, y1 = max(0, x0), max(0, y0), min(width, x1), min(height, y1)
    if x1 > x0 and y1 > y0:
        track.snapshot = np.array(image[y0:y1, x0:x1], copy=True)
        track.snapshot_score = score


def _shifted(symbol: Symbol, dx: float, dy: float) -> Symbol:
    corners = tuple((round(x + dx), round(y + dy)) for x, y in symbol.corners)
    return Symbol(
        symbology=symbol.symbology,
        symbology_id=symbol.symbology_id,
        text=symbol.text,
        gs1=symbol.gs1,
        corners=(corners[0], corners[1], corners[2], corners[3]),
        orientation=symbol.orientation,
        ec_used=symbol.ec_used,
    )
