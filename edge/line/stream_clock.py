"""The source's clock with its pauses taken out: what the trackers measure windows in.

A live source does not always deliver frames at an even pace. A camera settles for most
of a second after it starts, a stream buffers, a USB bus hiccups; then frames come again,
and the item in view is where it was (the source held its frames) or further along (the
camera missed frames while the belt ran). Either way the pause says nothing about the
item having left: no frame showed it gone. Measured in plain monotonic time, a pause
longer than the tracking window would close every open passage, and the item's next
frames would start a second passage of the same item.

So a frame that comes much later than the frames before it counts, for the trackers, as
one usual frame step later: its **pause** (the delay beyond that step) is taken out of
the tracking time, and a passage closes only once its code has been absent for a whole
window of frames that actually arrived. The usual step is the median of the recent
steps, so a stream that slows down for good is followed after a few frames. A frame
index that jumps (frames dropped by the capture, counted as such) is time that passed
with frames unseen, not a pause: the steps of the missing frames are expected.

A silence longer than :data:`BRIDGE_S` is no pause but an outage (the capture reopens a
stalled stream after a few seconds): it counts in full, and what was in view before it
is not assumed to be in view after.
"""

from __future__ import annotations

import statistics
from collections import deque

__all__ = ["BRIDGE_S", "MIN_PAUSE_S", "PAUSE_STEPS", "SLOWEST_STEP_S", "StreamClock"]

# A delay beyond the expected steps is a pause when it is longer than this many usual
# steps and longer than MIN_PAUSE_S: live stamps jitter by a frame or two, and a reader
# late by a few tens of milliseconds is no pause.
PAUSE_STEPS = 2.0
MIN_PAUSE_S = 0.1
# Before a stream has shown its pace (its second frame), a step is a pause only when it
# is longer than a frame of the slowest camera that watches a line (4 fps).
SLOWEST_STEP_S = 0.25
# The longest silence bridged: a camera settling or a network hiccup lasts well under it,
# and a stream silent for longer is reopened as stalled (capture.read_timeout_s, 5 s).
BRIDGE_S = 2.0
# Steps the usual step is the median of: half a second at 30 fps.
STEP_HISTORY = 15


class StreamClock:
    """Counts the pauses of one stream of frames; feed it every frame, in order.

    :meth:`advance` returns the seconds of pause so far; a tracker measures time as
    ``mono - paused``.
    """

    def __init__(self, *, live: bool = True) -> None:
        # A file or folder scanned fast is stamped with media time, which has no pauses:
        # a folder's images one second apart are one second apart, not a stalled stream.
        self._live = live
        self.paused = 0.0  # seconds of pause so far
        self._last: tuple[int, float] | None = None  # index and mono of the last frame
        self._steps: deque[float] = deque(maxlen=STEP_HISTORY)

    @property
    def usual_step(self) -> float | None:
        """The median of the recent steps between frames; None before the second frame."""
        return statistics.median(self._steps) if self._steps else None

    def advance(self, index: int, mono: float) -> float:
        """Take frame ``index`` stamped ``mono``; the seconds of pause up to it."""
        self.paused += self._pause(index, mono)
        if self._last is not None:
            frames = max(1, index - self._last[0])
            step = (mono - self._last[1]) / frames
            if step >= 0:
                self._steps.append(min(step, BRIDGE_S))
        self._last = (index, mono)
        return self.paused

    def peek(self, index: int, mono: float) -> float:
        """The seconds of pause up to frame ``index`` (not taken yet) at ``mono``."""
        return self.paused + self._pause(index, mono)

    def _pause(self, index: int, mono: float) -> float:
        if self._last is None or not self._live:
            return 0.0
        last_index, last_mono = self._last
        usual = self.usual_step
        longest = SLOWEST_STEP_S if usual is None else max(PAUSE_STEPS * usual, MIN_PAUSE_S)
        delay = mono - last_mono - max(1, index - last_index) * (usual or 0.0)
        if delay <= longest or delay > BRIDGE_S:
            return 0.0
        return delay
