"""The camera's settings sections: ``[source]`` (where frames come from) and ``[capture]``.

The module imports nothing heavy, so the edge's configuration can be loaded and checked
without OpenCV.
"""

from __future__ import annotations

from typing import Self

from pydantic import ConfigDict, Field, model_validator

from linetrace.settings import Section

__all__ = [
    "DEFAULT_BACKOFF_MAX_S",
    "DEFAULT_BACKOFF_S",
    "DEFAULT_READ_TIMEOUT_S",
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
# A live stream that delivers nothing for this long has stalled and is reopened: a camera
# at any usual rate sends several frames a second, so five silent seconds are no hiccup.
DEFAULT_READ_TIMEOUT_S = 5.0
# A capture process that makes no progress for this long is hung in a driver call and is
# restarted; three times the stream read timeout (and more than the open timeout, twice
# the read timeout), so a stream that merely stalls is handled by reopening it first.
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
    start_frame: int = Field(
        default=0,
        ge=0,
        description="Start a video file or image folder at this frame (0: the first), as "
        "`linetrace edge run --from-frame N` does; its frames keep the times they have in "
        "the file. Live sources have no position and ignore it; a looped file replays whole.",
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
    read_timeout_s: float = Field(
        default=DEFAULT_READ_TIMEOUT_S,
        gt=0.0,
        le=600.0,
        description="Seconds a live stream may deliver nothing before it counts as stalled "
        "and is reopened (opening one may take twice as long); keep it under a third of "
        "stall_s.",
    )
    stall_s: float = Field(
        default=DEFAULT_STALL_S,
        gt=0.0,
        le=3600.0,
        description="Seconds without progress after which the capture process is considered "
        "hung (e.g. in a camera driver) and is restarted.",
    )

    @model_validator(mode="after")
    def _stall_outlasts_opening(self) -> Self:
        # A stream being opened makes no progress for up to twice read_timeout_s; the
        # process must not be killed as hung meanwhile.
        if self.stall_s <= 2 * self.read_timeout_s:
            raise ValueError(
                f"stall_s ({self.stall_s:g}) must exceed twice read_timeout_s "
                f"({self.read_timeout_s:g}): opening a stream may take that long"
            )
        return self
