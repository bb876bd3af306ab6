"""The ``[scanner]`` settings section: how many processes decode.

The module imports nothing heavy, so the edge's configuration can be loaded and checked
without OpenCV or a decoder.
"""

from __future__ import annotations

import os

from pydantic import Field

from linetrace.settings import Section

__all__ = ["DEFAULT_WORKERS", "ScannerConfig"]

# The capture process (decoding the video stream) takes one core; the others read. Even
# on two cores one worker process beats reading in the scanner's own thread (measured
# with bench/edge_decode.py: ~1.5x at 720p and 1080p), as the scanner's tracking then
# overlaps the reading of the next frame.
DEFAULT_WORKERS = max(1, (os.cpu_count() or 1) - 1)


class ScannerConfig(Section):
    """How many processes decode."""

    workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Decode worker processes; default one per core but one (capture's). "
        "0 decodes in the scanner's own thread (a one-core box).",
    )
