"""The camera alarm: raised when the source fails or stalls, cleared when frames flow again.

The capture watchdog reopens a failing source by itself (with backoff), but a line whose
camera is down scans nothing, so the station must say so while it lasts: the alarm is
logged once, loudly, when raised (and once, at info, when cleared), and flagged in the
station's status (which then reads ``degraded``) and metrics until then. It clears on the
first frame after the failure, not on a reopened connection: a stream that reconnects
and stalls again is still down.
"""

from __future__ import annotations

import logging
import threading
import time

__all__ = ["CameraAlarm"]

logger = logging.getLogger(__name__)


class CameraAlarm:
    """Whether the camera is down now, and why; written by the scanner's thread, read by any."""

    def __init__(self, description: str = "the camera") -> None:
        self.description = description
        self._lock = threading.Lock()
        self._since: float | None = None  # monotonic time it was raised
        self._reason = ""

    @property
    def raised(self) -> bool:
        with self._lock:
            return self._since is not None

    @property
    def reason(self) -> str:
        """Why it was raised ("" while it is not)."""
        with self._lock:
            return self._reason if self._since is not None else ""

    def failed(self, reason: str) -> None:
        """The source failed, stalled or could not be reopened: raise (once)."""
        with self._lock:
            raised_now = self._since is None
            if raised_now:
                self._since = time.monotonic()
            self._reason = reason
        if raised_now:
            logger.error(
                "CAMERA ALARM: %s; reopening it with backoff, nothing is scanned meanwhile",
                reason,
            )

    def delivered(self) -> None:
        """A frame arrived: clear the alarm if it was raised."""
        if self._since is None:  # the common case, without the lock
            return
        with self._lock:
            since, self._since = self._since, None
        if since is not None:
            logger.info(
                "camera %s delivers frames again after %.1f s", self.description,
                time.monotonic() - since,
            )  # fmt: skip
