"""Pack events: a case or pallet label (an SSCC) seen together with the codes packed in it.

At a packing or shipping station the camera sees a logistic unit's SSCC label and the
codes of what it holds in the same frames. The association rule, in full:

* A **parent** is a read passage whose code carries an SSCC (AI 00).
* A **child** is any other read passage (an item's or a case's GTIN code) that is not
  itself an SSCC. Nested SSCCs (a pallet of SSCC-labelled cases) are not associated:
  nothing in the codes says which label is the outer one.
* A child belongs to a parent when their passages **overlap in time**, the parent's
  widened by ``overlap_margin_s`` on both sides (a child label can come into view a moment
  before the case label, or drop out a frame early), and, where both passages carry the
  region they were seen in, when the child's region touches the parent's region grown by
  ``region_margin_px`` (two cases side by side in view).
* A child that overlaps several waiting parents goes to the one it overlaps longest.

A parent waits ``hold_s`` after its widened span ends, so that children whose passages
close a little later (the tracker closes a passage only once its code has been gone for
its window) still join it; then it is released as a ``pack`` event carrying its children.
A parent with no children is released as the plain ``read`` it is. Every child is also
published at once as its own ``read`` event: the pack event adds the relation, it does
not replace the reads. A child that closes after its parent was released is counted in
:attr:`PackStats.late_children` (raise ``hold_s`` when that count grows).

Every time here is the source's monotonic clock (:attr:`Passage.first_mono`,
:attr:`Passage.last_mono`, and ``now`` in :meth:`PackAssociator.release_due`), never the
wall clock: a wall clock stepped by a time sync would release a parent before its
children close, or hold it for as long as the step. A passage without monotonic times
(one made by hand) is not associated: a parent goes out at once as the read it is.
"""

from __future__ import annotations

import logging
from collections import deque
from dataclasses import dataclass, replace

from linetrace.broker.contract.messages import ChildRead, EventKind
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.settings import PackConfig

__all__ = ["MAX_CHILDREN", "PackAssociator", "PackStats", "is_parent"]

logger = logging.getLogger(__name__)

# The contract's limit on children per pack event.
MAX_CHILDREN = 1000
# Children are kept this long after their passage ended, for a parent that closes later:
# longer than any case takes to pass under a camera, short enough to bound memory.
CHILD_RETENTION_S = 60.0
# At most this many children are kept waiting: 60 s of a 20 items/s line is 1200; the
# cap only matters on a line where SSCCs never come, and keeps memory flat there.
MAX_WAITING_CHILDREN = 10_000
# Released parents remembered to tell a late child from an unrelated one.
RECENT_PARENTS = 32

Region = tuple[float, float, float, float]


@dataclass(slots=True)
class PackStats:
    """Counters for status and metrics."""

    packs: int = 0  # pack events released
    children: int = 0  # children attached to them
    late_children: int = 0  # children that closed after their parent was released


def is_parent(passage: Passage) -> bool:
    """A read whose code carries an SSCC: a logistic unit's label."""
    return passage.kind is EventKind.READ and passage.gs1 is not None and "00" in passage.gs1


class PackAssociator:
    """Holds SSCC passages until their children are known; see the module docstring."""

    def __init__(self, config: PackConfig) -> None:
        self.config = config
        self.stats = PackStats()
        self._margin = config.overlap_margin_s
        self._hold = config.hold_s
        self._parents: list[Passage] = []
        self._children: deque[Passage] = deque(maxlen=MAX_WAITING_CHILDREN)
        self._released: deque[Passage] = deque(maxlen=RECENT_PARENTS)

    @property
    def waiting(self) -> int:
        """Parents held back for their children."""
        return len(self._parents)

    def add(self, passage: Passage) -> list[Passage]:
        """Take a closed passage; return what may be published now (a parent waits)."""
        if not _timed(passage):
            return [passage]
        if is_parent(passage):
            self._parents.append(passage)
            return []
        if passage.kind is EventKind.READ and passage.text:
            best = self._best_parent(passage)
            if best is not None and any(best is parent for parent in self._released):
                self.stats.late_children += 1
                logger.info(
                    "%r closed after its SSCC %r went out (pack.hold_s %.1f s is too short)",
                    passage.text,
                    best.text,
                    self.config.hold_s,
                )
            else:
                self._children.append(passage)
        return [passage]

    def release_due(self, now: float) -> list[Passage]:
        """Release every parent whose hold has passed at ``now`` (the passages' monotonic
        clock), oldest first."""
        due = [p for p in self._parents if _end(p) + self._margin + self._hold <= now]
        released = [self._release(parent) for parent in sorted(due, key=_start)]
        self._forget_children_before(now - CHILD_RETENTION_S)
        return released

    def finish(self) -> list[Passage]:
        """Release every waiting parent: the stream has ended."""
        return [self._release(parent) for parent in sorted(self._parents, key=_start)]

    def _release(self, parent: Passage) -> Passage:
        self._parents = [waiting for waiting in self._parents if waiting is not parent]
        self._released.append(parent)
        children = [child for child in self._children if self._best_parent(child) is parent]
        if not children:
            return parent
        taken = {id(child) for child in children}
        self._children = deque(
            (child for child in self._children if id(child) not in taken),
            maxlen=MAX_WAITING_CHILDREN,
        )
        if len(children) > MAX_CHILDREN:
            logger.warning(
                "SSCC %r was seen with %d codes; the pack event carries the first %d",
                parent.text,
                len(children),
                MAX_CHILDREN,
            )
            children = children[:MAX_CHILDREN]
        self.stats.packs += 1
        self.stats.children += len(children)
        return replace(
            parent,
            kind=EventKind.PACK,
            children=tuple(_child_read(child) for child in sorted(children, key=_start)),
        )

    def _belongs(self, child: Passage, parent: Passage) -> bool:
        return self._overlap(child, parent) >= 0 and self._near(child, parent)

    def _overlap(self, child: Passage, parent: Passage) -> float:
        """Seconds the passages overlap, the parent's widened; negative when they do not."""
        start = max(_start(child), _start(parent) - self._margin)
        end = min(_end(child), _end(parent) + self._margin)
        return end - start

    def _near(self, child: Passage, parent: Passage) -> bool:
        margin = self.config.region_margin_px
        if margin is None or child.region is None or parent.region is None:
            return True
        return _touches(child.region, _grown(parent.region, margin))

    def _best_parent(self, child: Passage) -> Passage | None:
        """The parent the child overlaps longest: waiting ones first, the earlier on a tie."""
        best: Passage | None = None
        best_overlap = 0.0
        for parent in [*sorted(self._parents, key=_start), *self._released]:
            if not self._belongs(child, parent):
                continue
            overlap = self._overlap(child, parent)
            if best is None or overlap > best_overlap:
                best, best_overlap = parent, overlap
        return best

    def _forget_children_before(self, limit: float) -> None:
        while self._children and _end(self._children[0]) < limit:
            self._children.popleft()


def _timed(passage: Passage) -> bool:
    return passage.first_mono is not None and passage.last_mono is not None


def _start(passage: Passage) -> float:
    if passage.first_mono is None:
        raise ValueError("a passage without monotonic times cannot be packed")
    return passage.first_mono


def _end(passage: Passage) -> float:
    if passage.last_mono is None:
        raise ValueError("a passage without monotonic times cannot be packed")
    return passage.last_mono


def _grown(region: Region, margin: float) -> Region:
    x0, y0, x1, y1 = region
    return (x0 - margin, y0 - margin, x1 + margin, y1 + margin)


def _touches(a: Region, b: Region) -> bool:
    return a[0] <= b[2] and b[0] <= a[2] and a[1] <= b[3] and b[1] <= a[3]


def _child_read(passage: Passage) -> ChildRead:
    return ChildRead(
        symbology=passage.symbology,
        symbology_id=passage.symbology_id,
        text=passage.text or "",
        gs1=passage.gs1,
    )
