"""What reading one frame hands on: the regions located, what each decoded, the hints.

Kept apart from the reader so that the decode workers, the region tracker and the
scanner agree on one shape without importing the decoders.
"""

from __future__ import annotations

from dataclasses import dataclass

from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.locate import Region

__all__ = ["Hint", "Reading", "Sighting"]


@dataclass(frozen=True, slots=True)
class Hint:
    """A label already read, and where its region should be in the frame being read.

    ``reread``: its read was doubted (see :meth:`linetrace.edge.line.confirm.Confirmer.doubts`),
    so it is decoded again, not skipped, and not first the plain way that misread it.
    """

    key: int
    region: Region
    reread: bool = False


@dataclass(frozen=True, slots=True)
class Sighting:
    """One located region of a frame and what was decoded in it.

    ``carried`` is the key of the hint the region matched: it was not decoded because its
    label has been read already; ``symbols`` is then empty.
    """

    region: Region
    symbols: tuple[Symbol, ...] = ()
    carried: int | None = None


@dataclass(frozen=True, slots=True)
class Reading:
    """Everything read in one frame, in frame pixels.

    ``loose`` holds symbols decoded without a region (whole-frame decoding); ``attempts``
    counts decoder calls, the measure of how much work the frame took.
    """

    sightings: tuple[Sighting, ...] = ()
    loose: tuple[Symbol, ...] = ()
    seconds: float = 0.0
    attempts: int = 0

    @property
    def symbols(self) -> list[Symbol]:
        """Every symbol decoded in this frame (not the carried ones)."""
        return [s for sighting in self.sightings for s in sighting.symbols] + list(self.loose)
