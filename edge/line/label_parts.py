"""Which undecoded regions lie on one label, and so make one no-read between them.

What lies between two regions decides it (:mod:`linetrace.edge.line.paper`): label paper
joins a symbol, its caption and the parts of a covered code, while box edges and the belt
keep two labels apart. Without the frame, closeness stands in for it. A closing track
that never decoded is then settled with the rest of its label (see
:mod:`linetrace.edge.line.regions` for the rules of a no-read).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Container
from typing import TYPE_CHECKING

import cv2

from linetrace.edge.line.paper import joined
from linetrace.edge.line.region_track import RegionTrack
from linetrace.edge.vision.locate import CELL_PX, Region
from linetrace.edge.vision.reading import Sighting

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["LABEL_SPAN_PX", "NEAR_PX", "relate", "settle_unread"]

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


def relate(
    seen: list[tuple[RegionTrack, Sighting]],
    unseen: list[tuple[RegionTrack, Region]],
    gray: Image | None,
) -> None:
    """Find which undecoded regions of a frame lie on a read label, and which lie on one
    label with another undecoded region, of this frame or (``unseen``: open tracks not seen
    in it, where they should be now) not."""
    read = [(t, s.region) for t, s in seen if t.decoded or t.carried]
    unread = [(t, s.region) for t, s in seen if not (t.decoded or t.carried)]
    for track, region in unread:
        for other, where in read:
            if not track.near_read and first_look(track, other):
                track.near_read = _same_label(gray, region, where)
    for (track, region), (other, where) in itertools.combinations(unread, 2):
        if first_look(track, other):
            _compare(gray, track, region, other, where)
    # Where an unseen track should be is a prediction: a look that finds them apart
    # is not kept, the next frame may show them side by side.
    for track, region in unread:
        for other, where in unseen:
            if other.key not in track.judged:
                _compare(gray, track, region, other, where)


def settle_unread(track: RegionTrack, still_open: Container[int]) -> None:
    """Settle a closing track that never decoded with the other tracks of its label: part
    of a read label if any of them was read or lay on a read label; else the label's
    no-read waits for its last open track, and then gathers the evidence of all."""
    label = _label_of(track)
    if any(t.near_read or t.decoded or t.carried for t in label):
        track.near_read = True
    elif any(t is not track and (t.key in still_open or t.reported) for t in label):
        track.merged = True
    else:
        for other in label:
            if other is not track:
                _gather(track, other)
        track.reported = track.is_noread


def first_look(track: RegionTrack, other: RegionTrack) -> bool:
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


def _near(first: Region, second: Region) -> bool:
    """Whether the outlines of two regions come within :data:`NEAR_PX` of each other."""
    grown = [
        (region.centre, (region.size[0] + NEAR_PX, region.size[1] + NEAR_PX), region.angle)
        for region in (first, second)
    ]
    kind, _ = cv2.rotatedRectangleIntersection(grown[0], grown[1])
    return bool(kind != cv2.INTERSECT_NONE)
