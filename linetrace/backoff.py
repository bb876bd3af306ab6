"""Exponential backoff: how long to wait before the next try of something that failed.

Reconnecting a camera, restarting a crashed child process and resending to a target that
is down all wait the same way: a first short pause (most faults are brief), doubling up
to a ceiling (a fault that lasts is not hammered), optionally spread by jitter (many
clients that failed together do not retry together), and back to the start after a
success.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

__all__ = ["Backoff"]


@dataclass
class Backoff:
    """Delays ``initial_s``, ``initial_s * factor``, … up to ``maximum_s``, each +-``jitter``."""

    initial_s: float
    maximum_s: float
    factor: float = 2.0
    jitter: float = 0.0  # share of the delay, 0..1: 0.2 spreads a 10 s delay over 8-12 s
    attempts: int = field(default=0, init=False)
    _random: random.Random = field(default_factory=random.Random, repr=False)

    def __post_init__(self) -> None:
        if not 0 < self.initial_s <= self.maximum_s:
            raise ValueError("backoff needs 0 < initial_s <= maximum_s")
        if self.factor < 1 or not 0 <= self.jitter <= 1:
            raise ValueError("backoff needs factor >= 1 and 0 <= jitter <= 1")

    def next_delay(self) -> float:
        """The pause before the next try; each call counts one more failed attempt."""
        delay = min(self.initial_s * self.factor ** min(self.attempts, 64), self.maximum_s)
        self.attempts += 1
        if self.jitter:
            delay *= 1 + self._random.uniform(-self.jitter, self.jitter)
        return delay

    def reset(self) -> None:
        """Start again from ``initial_s`` (after a success)."""
        self.attempts = 0
