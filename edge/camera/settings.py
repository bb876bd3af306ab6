"""The camera's settings sections: ``[source]`` (where frames come from) and ``[capture]``.

The module imports nothing heavy, so the edge's configuration can be loaded and checked
without OpenCV.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field

from linetrace.settings import Section

__all__ = [
    "DEFAULT_BACKOFF_MAX_S",
    "DEFAULT_BACKOFF_S",
    "DEFAULT_RING_SLOTS",
    "DEFAULT_STALL_S",
    "CaptureConfig",
    "SourceConfig",
]

# Eight frames is a quarter second at 30 fps: enough to ride out a slow frame or two in the
# decoders, short enough that a frame is never decoded long after it was taken.
DEFAULT_RING_SLOTS = 8
# Reopening a failed camera: soon at first (a glitch), then less and less often (a
# camera that is unplugged or rebooting), never more than a minute apart.
DEFAULT_BACKOFF_S = 0.5
DEFAULT_BACKOFF_MAX_S = 30.0
# A capture process that makes no progress for this long is hung in a driver call and is
# restarted; three times the stream read timeout, so a stream that merely stalls is
# handled by reopening it first.
DEFAULT_STALL_S = 15.0


class SourceConfig(Section):
    """Where frames come from."""

    spec: str = Field(
        description="The frame source: a camera index, an RTSP URL, a video file, an image "
        "folder or a synthetic source (see `linetrace edge scan --help`)."
    )
    realtime: bool = Field(
        default=False,
        description="Pace a file source at its own frame rate instead of as fast as it decodes "
        "(live cameras are real time anyway).",
    )
    loop: bool = Field(
        default=False,
        description="Start a file source again when it ends (demo playback); otherwise the "
        "agent stops at its end.",
    )


class CaptureConfig(Section):
    """How frames are captured and how a failing source is retried."""

    model_config = ConfigDict(frozen=True)

    ring_slots: int = Field(
        default=DEFAULT_RING_SLOTS,
        ge=2,
        le=256,
        description="Frames the shared-memory ring holds between capture and decoding; when "
        "all are taken a live source drops frames (counted) instead of waiting.",
    )
    backoff_s: float = Field(
        default=DEFAULT_BACKOFF_S,
        gt=0.0,
        le=60.0,
        description="Seconds before the first attempt to reopen a failed or stalled source; "
        "each further failure doubles it.",
    )
    backoff_max_s: float = Field(
        default=DEFAULT_BACKOFF_MAX_S,
        gt=0.0,
        le=3600.0,
        description="The longest wait between two attempts to reopen a source.",
    )
    stall_s: float = Field(
        default=DEFAULT_STALL_S,
        gt=0.0,
        le=3600.0,
        description="Seconds without progress after which the capture process is considered "
        "hung (e.g. in a camera driver) and is restarted.",
    )
