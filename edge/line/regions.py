"""Following located regions along the belt: which labels were read, which never were.

The code tracker (:mod:`linetrace.edge.line.track`) only knows what decoded. A no-read is the
opposite, a symbol that was there and never decoded, so it needs the regions the locator
found, followed from frame to frame like items on a belt: a region belongs to the open
:class:`RegionTrack` it overlaps most where that track is predicted to be now (moved with
the belt, whose velocity the code tracker measures, or, before any code has, the regions
themselves), and starts a new track otherwise.

A track that decoded something is a read label: once its code is confirmed (two agreeing
frames for a linear code, one for a matrix code) it is handed to the reader as a
:class:`~linetrace.edge.vision.reading.Hint`, so the next frames skip decoding it. A track that
closes without any decode is a no-read candidate, and becomes a no-read only if

* its label (see below) was seen whole (not cut by the frame's border) in at least
  :data:`MIN_WHOLE_FRAMES` frames, and one of its parts, or its code-like parts together
  (see :data:`CODE_DENSITY`), are large enough to be a symbol: a label entering or leaving
  the view, or a speck of texture where edges cross, is not a symbol that failed;
* it never lay on one label with a read region: a label's caption block found apart
  from its symbol belongs to that read label, not to another item.

One label makes one no-read, and two labels two, however close their boxes ride. Which
regions share a label is decided by what lies between them (:mod:`linetrace.edge.line.paper`):
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
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.camera.images import grayscale
from linetrace.edge.line.label_parts import relate, settle_unread
from linetrace.edge.line.region_track import Key, RegionTrack, Velocity, belt_from_regions
from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.locate import MARGIN_PX, Region
from linetrace.edge.vision.reading import Hint, Sighting
from linetrace.edge.vision.stack import ViewStack

if TYPE_CHECKING:
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]
    Doubts = Callable[[Image, Symbol, Region], bool]

__all__ = ["CODE_DENSITY", "RegionTracker"]

# A sticker can leave only slivers of bars above and below it, which the locator finds a
# few cells at a time, each time another: then the label's size is that of its code-like
# parts together, each at its largest. Code-like means as dense in edges as a symbol's
# cells (150-250, see linetrace.edge.vision.locate): the specks where a box's edge meets the rail
# or a belt seam reach about 100, and chained together would pass for a label.
CODE_DENSITY = 130.0
# A region is its track's when it overlaps where the track is predicted by at least this
# share of the smaller of the two: the outline of one label wobbles by about a cell between
# frames and grows or shrinks as the label enters or leaves the view, while two labels
# never overlap at all.
MIN_OVERLAP = 0.3


class RegionTracker:
    """Joins each frame's located regions into tracks; hands back each track once, closed.

    ``belt`` is the belt's velocity in pixels per second, when known: the owner sets it
    from the code tracker, which measures it on decoded symbols.
    """

    def __init__(
        self,
        window_s: float,
        linear_confirmations: int,
        *,
        keep_views: bool = False,
        doubts: Doubts | None = None,
    ) -> None:
        """``keep_views``: keep the recent views of undecoded matrix-like regions, for
        :meth:`due_stacks`. ``doubts(gray, symbol, region)``: whether a linear read about
        to be confirmed here is a misread by its own view (asked once per code and region)."""
        self.window_s = window_s
        self.linear_confirmations = linear_confirmations
        self.keep_views = keep_views
        self._doubts = doubts
        self.doubted_now: list[Symbol] = []  # the reads doubted in the last frame observed
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
        """Labels already read, where they should be at ``mono``: the reader skips them,
        or reads a doubted one again another way."""
        hints: list[Hint] = []
        for track in self._open.values():
            # A label unseen for longer than the window may be another one by now.
            if mono - track.last_mono > self.window_s:
                continue
            if track.confirmed(self.linear_confirmations):
                hints.append(Hint(track.key, track.predicted(mono, self.belt)))
            elif track.doubted:
                hints.append(Hint(track.key, track.predicted(mono, self.belt), reread=True))
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
        self.doubted_now = []
        if gray is not None:
            self._ask_doubts(placed, gray)
        self._relate(followed + placed, mono, gray)
        self._stacks_due = []
        if image is not None and gray is not None:
            for track, sighting in placed:
                if not track.decoded and not track.carried:
                    _keep_snapshot(track, sighting.region, image)
                    self._keep_view(track, sighting.region, gray)
        self._last_seen = list(touched.values())
        return carried, self._close_idle(mono, touched)

    def _ask_doubts(self, placed: list[tuple[RegionTrack, Sighting]], gray: Image) -> None:
        """Ask whether the linear reads of this frame that now have the decodes to be
        confirmed are doubted by their own view (once per code and region)."""
        if self._doubts is not None:
            for track, sighting in placed:
                for symbol in sighting.symbols:
                    region, doubts, needed = (
                        sighting.region,
                        self._doubts,
                        self.linear_confirmations,
                    )
                    if track.doubt_once(symbol, region, gray, doubts, needed):
                        self.doubted_now.append(symbol)

    def due_stacks(self) -> list[RegionTrack]:
        """The tracks of the last frame observed whose views are due to be combined: not
        decoded, on no read label, seen whole (see :mod:`linetrace.edge.vision.stack`)."""
        return self._stacks_due

    def record_stacked(self, track: RegionTrack, symbols: Sequence[Symbol]) -> None:
        """Count ``symbols``, read from ``track``'s combined views, as one decode each."""
        for symbol in symbols:
            if symbol.key not in track.decodes:
                self.first_located[symbol.key] = track.first_index
            track.decodes[symbol.key] = track.decodes.get(symbol.key, 0) + 1
            track.symbols[symbol.key] = symbol
            track.anchors[symbol.key] = track.region.centre

    def record_whole(self, symbols: Sequence[Symbol]) -> None:
        """Count ``symbols``, read from the whole of the last frame observed, as decodes of
        the regions of that frame that hold them: those regions were read, not no-reads."""
        for symbol in symbols:
            for track in self._last_seen:
                if track.region.holds(symbol.centre):
                    self.record_stacked(track, [symbol])
                    break

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
        """The belt's velocity from the regions themselves, while no code has measured it
        (the last such measure stands until a frame gives a new one)."""
        measured = belt_from_regions(self._open.values(), sightings, mono, self.window_s)
        if measured is not None:
            self._measured = measured
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
        """Join the undecoded regions of this frame to the labels they lie on (see
        :func:`~linetrace.edge.line.label_parts.relate`)."""
        relate(seen, self._unseen({t.key for t, _ in seen}, mono, gray), gray)

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
                settle_unread(track, self._open)
            settled.append(track)
        return settled


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
