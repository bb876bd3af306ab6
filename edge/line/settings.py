"""The ``[pack]`` settings section: how codes seen with an SSCC become its children.

The module imports nothing heavy, so the edge's configuration can be loaded and checked
without the line stage's trackers.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from linetrace.settings import Section

__all__ = ["PackConfig"]


class PackConfig(Section):
    """How codes seen with an SSCC become that SSCC's children (packing/shipping roles)."""

    model_config = ConfigDict(frozen=True)

    # A quarter second is several frames at 25-30 fps (a label read a frame or two apart
    # from the case label) and shorter than the gap between two cases on a line that
    # packs up to 2 cases/s, so the next case's codes do not join this one.
    overlap_margin_s: float = Field(
        default=0.25,
        ge=0.0,
        le=10.0,
        description="Seconds by which a parent's passage is widened on both sides before "
        "codes overlapping it in time count as its children.",
    )
    # One second covers the tracker's default 0.5 s closing window twice over.
    hold_s: float = Field(
        default=1.0,
        ge=0.0,
        le=60.0,
        description="Seconds a parent waits after its widened passage ends for children "
        "whose passages close later; more delays the pack event, less misses children.",
    )
    region_margin_px: float | None = Field(
        default=None,
        ge=0.0,
        description="When set and the decoder reports where codes were seen: pixels by "
        "which the parent label's region is grown; a child must lie within it. Set it to "
        "about a case's size in the image when several cases are in view side by side.",
    )
