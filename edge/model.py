"""The values that flow through the edge pipeline, from captured frame to closed passage.

Kept apart from the stages so that sources, decoders, the tracker and the outbox agree on
one shape without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from linetrace.broker.contract.messages import CheckResult, ChildRead, EventKind

if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Frame:
    """One captured image, time-stamped once at capture.

    ``wall`` carries the station's UTC offset and becomes ``observed_at``; ``mono`` is a
    monotonic clock in seconds (for a video read faster than real time, its media time)
    and is what the tracker's windows are measured in.
    """

    image: npt.NDArray[np.uint8]
    index: int
    wall: datetime
    mono: float


@dataclass(frozen=True, slots=True)
class Passage:
    """One item passage the tracker has closed: the source of exactly one scan event."""

    kind: EventKind
    first_seen: datetime
    last_seen: datetime
    frames: int
    symbology: str | None = None
    symbology_id: str | None = None
    text: str | None = None
    gs1: dict[str, str] | None = None
    checks: dict[str, CheckResult] = field(default_factory=dict)
    snapshot: bytes | None = None  # noread only: JPEG of the symbol that never decoded
    # Optional context, set by the stage that knows it (None where nobody does).
    children: tuple[ChildRead, ...] | None = None  # pack: the codes seen with this parent
    first_frame: int | None = None  # index of the first frame that read the code
    first_frame_in_view: int | None = None  # first frame a locator found the symbol in
    ec_used: float | None = None  # share of error correction the worst read used, 0..1
    region: tuple[float, float, float, float] | None = None  # x0, y0, x1, y1 swept, pixels
