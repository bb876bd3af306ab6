"""The login rate limit: so many failures per account and per client address in a window.

Kept in memory: one central process serves the pages of a plant, a restart forgetting
the count only gives an attacker a few more guesses after an operator's restart, and a
table written on every failed login would be a way to fill the disk.
"""

from __future__ import annotations

import math
import time
from collections import deque
from collections.abc import Callable

__all__ = ["LoginLimiter"]

# Keys kept at most: an attacker cycling names or addresses cannot grow memory past this.
_MAX_KEYS = 10_000


class LoginLimiter:
    """Counts failed logins per key (``user:NAME``, ``addr:IP``) over a sliding window."""

    def __init__(
        self, failures: int, window_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.failures = failures
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[str, deque[float]] = {}

    def retry_after(self, *keys: str) -> int:
        """Seconds until any of ``keys`` may try again; 0 when all may now."""
        now = self._clock()
        wait = 0.0
        for key in keys:
            times = self._recent(key, now)
            if len(times) >= self.failures:
                wait = max(wait, times[0] + self.window_s - now)
        return math.ceil(wait) if wait > 0 else 0

    def failed(self, *keys: str) -> None:
        now = self._clock()
        if len(self._seen) >= _MAX_KEYS:
            self._prune(now)
        for key in keys:
            self._seen.setdefault(key, deque(maxlen=self.failures)).append(now)

    def forget(self, key: str) -> None:
        """A successful login clears its account's failures (not its address's)."""
        self._seen.pop(key, None)

    def _recent(self, key: str, now: float) -> deque[float]:
        times = self._seen.get(key, deque())
        while times and times[0] + self.window_s <= now:
            times.popleft()
        return times

    def _prune(self, now: float) -> None:
        for key in [key for key, times in self._seen.items() if not self._recent(key, now)]:
            del self._seen[key]
        while len(self._seen) >= _MAX_KEYS:
            del self._seen[next(iter(self._seen))]
