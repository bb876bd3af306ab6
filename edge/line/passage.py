"""One closed item passage: what the line stage hands on, the source of one scan event.

Kept apart from the trackers so that the scanner, the pack associator, the batch checks
and the outbox agree on one shape without importing each other.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from linetrace.broker.contract.messages import CheckResult, ChildRead, EventKind

__all__ = ["Passage"]


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
    # The source's monotonic clock (seconds; media time for a file read faster than real
    # time) at the first and last sighting. Whatever waits on passages (the pack hold)
    # runs on it: the wall times are for observed_at only, and the wall clock may step.
    # None where unknown (a no-read, a passage made by hand).
    first_mono: float | None = None
    last_mono: float | None = None
