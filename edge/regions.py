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

* its label (see below) was seen whole (not cut by the frame's border) in at least
  :data:`MIN_WHOLE_FRAMES` frames, and one of its parts, or its code-like parts together
  (see :data:`CODE_DENSITY`), are large enough to be a symbol: a label entering or leaving
  the view, or a speck of texture where edges cross, is not a symbol that failed;
* it never lay on one label with a read region: a label's caption block found apart
  from its symbol belongs to that read label, not to another item.

One label makes one no-read, and two labels two, however close their boxes ride. Which
regions share a label is decided by what lies between them (:mod:`linetrace.edge.paper`):
label paper joins a symbol, its caption, the two ends of a linear code either side of a
sticker and the sticker's print, while the edges of two boxes and the belt between them
keep their labels apart. Distance alone cannot: the ends of one covered GS1-128 lie
further apart than the labels on two boxes. Each undecoded region is compared with the
other regions of its frame and with the open tracks not seen in it, where they should be
by now: the parts of a worn label flicker in and out of the locator's view from frame to
frame and would otherwise start tracks that never meet. A label's no-read is reported
when the last of its tracks closes, with the evidence of all of them; the largest whole
view of any is its snapshot.

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
from linetrace.edge.paper import joined
from linetrace.edge.reader import Hint, Sighting, grayscale
from linetrace.edge.stack import ViewStack

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = [
    "CODE_DENSITY",
    "MIN_NOREAD_AREA",
    "MIN_WHOLE_FRAMES",
    "RegionTrack",
    "RegionTracker",
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
# A sticker can leave only slivers of bars above and below it, which the locator finds a
# few cells at a time, each time another: then the label's size is that of its code-like
# parts together, each at its largest. Code-like means as dense in edges as a symbol's
# cells (150-250, see linetrace.edge.locate): the specks where a box's edge meets the rail
# or a belt seam reach about 100, and chained together would pass for a label.
CODE_DENSITY = 130.0
# Without the frame to look at (a caller that has only the regions), regions whose
# outlines come this close (pixels) are taken for parts of one label: a caption is printed
# 4 modules (8-16 px) from its symbol, but located regions end where the edges thin out,
# up to 20 px inside what is printed, so they can be 40 px apart; labels on two boxes are
# two box margins and a belt gap apart, 50 px and more, plus the same shrinkage.
NEAR_PX = 5 * CELL_PX
# Regions further apart than this (centre to centre, pixels) are never one label: the
# longest label at 720p-class resolution (a GS1-128 SSCC at 2.6 px per module, quiet zones
# and card included) spans ~700 px. Only a bound on the comparisons made.
LABEL_SPAN_PX = 800.0
# Until a code has measured the belt, the regions do: the shift that at least this many
# pairs of whole regions of about the same size (within this area ratio) agree on, within
# this many pixels a second (a cell a frame at 30 fps: an outline wobbles by about that).
MIN_VOTES = 2
ALIKE_AREA_RATIO = 1.5
VOTE_TOLERANCE_PX_S = CELL_PX * 30.0
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
        from then on it would outnumber the real code, read once before, in frames."""
        confirmed: list[Symbol] = []
        for key, count in self.decodes.items():
            needed = linear_confirmations if key[0] in LINEAR_FORMATS else 1
            rivals = [n for (symbology, _), n in self.decodes.items() if symbology == key[0]]
            if count >= needed + sum(rivals) - count:
                confirmed.append(self.symbols[key])
        return confirmed

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


class RegionTracker:
    """Joins each frame's located regions into tracks; hands back each track once, closed.

    ``belt`` is the belt's velocity in pixels per second, when known: the owner sets it
    from the code tracker, which measures it on decoded symbols.
    """

    def __init__(
        self, window_s: float, linear_confirmations: int, *, keep_views: bool = False
    ) -> None:
        """``keep_views``: keep the recent views of undecoded matrix-like regions, for
        :meth:`due_stacks`."""
        self.window_s = window_s
        self.linear_confirmations = linear_confirmations
        self.keep_views = keep_views
        self._stacks_due: list[RegionTrack] = []
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
        gray = None if image is None else grayscale(image)
        self._relate(followed + placed, mono, gray)
        self._stacks_due = []
        if image is not None and gray is not None:
            for track, sighting in placed:
                if not track.decoded and not track.carried:
                    _keep_snapshot(track, sighting.region, image)
                    self._keep_view(track, sighting.region, gray)
        self._last_seen = list(touched.values())
        return carried, self._close_idle(mono, touched)

    def due_stacks(self) -> list[RegionTrack]:
        """The tracks of the last frame observed whose views are due to be combined: not
        decoded, on no read label, seen whole (see :mod:`linetrace.edge.stack`)."""
        return self._stacks_due

    def record_stacked(self, track: RegionTrack, symbols: Sequence[Symbol]) -> None:
        """Count ``symbols``, read from ``track``'s combined views, as one decode each."""
        for symbol in symbols:
            if symbol.key not in track.decodes:
                self.first_located[symbol.key] = track.first_index
            track.decodes[symbol.key] = track.decodes.get(symbol.key, 0) + 1
            track.symbols[symbol.key] = symbol
            track.anchors[symbol.key] = track.region.centre

    def _keep_view(self, track: RegionTrack, region: Region, gray: Image) -> None:
        """Keep a whole view of an undecoded region without bars (a matrix symbol, maybe)
        and say when its views are due to be combined."""
        if not self.keep_views or region.edge or region.bars is not None:
            return
        if track.views is None:
            track.views = ViewStack(region)
        track.views.add(gray, region)
        if not track.near_read and track.views.due():
            self._stacks_due.append(track)

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
            track.whole_at.add(track.last_index)
            track.whole = len(track.whole_at)
            track.largest = max(track.largest, region.area)
            if region.density >= CODE_DENSITY:
                track.code_area = max(track.code_area, region.area)
        for symbol in sighting.symbols:
            track.decodes[symbol.key] = track.decodes.get(symbol.key, 0) + 1
            track.symbols[symbol.key] = symbol
            track.anchors[symbol.key] = region.centre

    def _relate(
        self, seen: list[tuple[RegionTrack, Sighting]], mono: float, gray: Image | None
    ) -> None:
        """Find which undecoded regions of this frame lie on a read label, and which lie
        on one label with another undecoded region, of this frame or not seen in it."""
        read = [(t, s.region) for t, s in seen if t.decoded or t.carried]
        unread = [(t, s.region) for t, s in seen if not (t.decoded or t.carried)]
        unseen = self._unseen({t.key for t, _ in seen}, mono, gray)
        for track, region in unread:
            for other, where in read:
                if not track.near_read and _first_look(track, other):
                    track.near_read = _same_label(gray, region, where)
        for (track, region), (other, where) in itertools.combinations(unread, 2):
            if _first_look(track, other):
                _compare(gray, track, region, other, where)
        # Where an unseen track should be is a prediction: a look that finds them apart
        # is not kept, the next frame may show them side by side.
        for track, region in unread:
            for other, where in unseen:
                if other.key not in track.judged:
                    _compare(gray, track, region, other, where)

    def _close_idle(self, mono: float, touched: dict[int, RegionTrack]) -> list[RegionTrack]:
        closed = [
            track
            for key, track in self._open.items()
            if key not in touched and mono - track.last_mono > self.window_s
        ]
        for track in closed:
            del self._open[track.key]
        return self._settle(closed)

    def _unseen(
        self, seen: set[int], mono: float, gray: Image | None
    ) -> list[tuple[RegionTrack, Region]]:
        """The open undecoded tracks not seen in this frame, where they should be now:
        only while the belt's velocity is known, from codes or from the regions (else the
        prediction is where they were), and only where that lies wholly in the frame
        (else nothing there can be seen)."""
        belt = self.belt or self._measured
        if belt is None or gray is None:
            return []
        height, width = gray.shape[:2]
        unseen: list[tuple[RegionTrack, Region]] = []
        for track in self._open.values():
            if track.key in seen or track.decoded or track.carried:
                continue
            if mono - track.last_mono > self.window_s:
                continue
            where = track.predicted(mono, belt)
            x0, y0, x1, y1 = where.bounds()
            if x0 >= 0 and y0 >= 0 and x1 < width and y1 < height:
                unseen.append((track, where))
        return unseen

    def _settle(self, closed: Iterable[RegionTrack]) -> list[RegionTrack]:
        """Settle each closing no-read candidate with the other tracks of its label: part
        of a read label if any of them was read or lay on a read label; else the label's
        no-read waits for its last open track, and then gathers the evidence of all."""
        settled: list[RegionTrack] = []
        for track in closed:
            track.views = None  # kin may keep a closed track: not its pictures
            if not track.decoded:
                self._settle_unread(track)
            settled.append(track)
        return settled

    def _settle_unread(self, track: RegionTrack) -> None:
        label = _label_of(track)
        if any(t.near_read or t.decoded or t.carried for t in label):
            track.near_read = True
        elif any(t is not track and (t.key in self._open or t.reported) for t in label):
            track.merged = True
        else:
            for other in label:
                if other is not track:
                    _gather(track, other)
            track.reported = track.is_noread


def _first_look(track: RegionTrack, other: RegionTrack) -> bool:
    """True the first time ``track`` and ``other`` are compared: which label a region is
    on does not change, so one look at them side by side is enough."""
    if other.key in track.judged:
        return False
    track.judged.add(other.key)
    other.judged.add(track.key)
    return True


def _compare(
    gray: Image | None, track: RegionTrack, region: Region, other: RegionTrack, where: Region
) -> None:
    """Make two undecoded tracks kin when their regions lie on one label."""
    if _same_label(gray, region, where):
        track.kin.append(other)
        other.kin.append(track)
        track.judged.add(other.key)
        other.judged.add(track.key)


def _same_label(gray: Image | None, first: Region, second: Region) -> bool:
    if math.dist(first.centre, second.centre) > LABEL_SPAN_PX:
        return False
    if gray is None:
        return _near(first, second)
    return joined(gray, first, second)


def _label_of(track: RegionTrack) -> list[RegionTrack]:
    """``track`` and every undecoded track joined to it, directly or through others."""
    label = [track]
    known = {track.key}
    for member in label:
        for other in member.kin:
            if other.key not in known:
                known.add(other.key)
                label.append(other)
    return label


def _gather(track: RegionTrack, other: RegionTrack) -> None:
    """Give ``track`` the evidence of ``other``, a track of the same label: the frames
    either was seen whole in, and the code-like area of both parts."""
    track.whole_at |= other.whole_at
    track.whole = len(track.whole_at)
    track.frames = max(track.frames, other.frames, track.whole)
    track.largest = max(track.largest, other.largest)
    track.code_area += other.code_area
    if other.snapshot_score > track.snapshot_score:
        track.snapshot, track.snapshot_score = other.snapshot, other.snapshot_score
    track.first_seen = min(track.first_seen, other.first_seen)
    track.last_seen = max(track.last_seen, other.last_seen)


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


def _alike(first: Region, second: Region) -> bool:
    """About the same size: maybe one region seen twice."""
    return 1 / ALIKE_AREA_RATIO <= first.area / max(second.area, 1.0) <= ALIKE_AREA_RATIO


def _close(first: Velocity, second: Velocity) -> bool:
    return math.dist(first, second) <= VOTE_TOLERANCE_PX_S


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
    )
