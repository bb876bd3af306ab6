"""A circuit breaker per target: stop sending to a target that is down, probe it, resume.

Closed: sends go out. After ``failures`` sends in a row failed (no event accepted or
rejected: the target did not answer, or answered 5xx/429), the breaker opens and no
events are claimed for the target for a while, so a dead target is not hammered and its
events are not claimed and released over and over. When the pause is over it is
half-open: one small probe send; success closes it, failure opens it again for a longer
pause (doubling, with jitter, up to the ceiling). A ``Retry-After`` from the target keeps
it open at least that long. Nothing is dropped while open: the events wait in the queue.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from linetrace.backoff import Backoff

__all__ = ["Breaker", "BreakerState"]

# Jitter on the open pause: several central instances whose breakers opened together
# probe at different moments.
_JITTER = 0.2


class BreakerState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half-open"


@dataclass
class Breaker:
    """The breaker of one target; times are ``time.monotonic()`` seconds, passed in."""

    failures: int
    open_s: float
    max_open_s: float
    state: BreakerState = BreakerState.CLOSED
    consecutive_failures: int = 0
    open_until: float = 0.0
    _backoff: Backoff = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._backoff = Backoff(self.open_s, max(self.open_s, self.max_open_s), jitter=_JITTER)

    def allows(self, now: float) -> bool:
        """May events be sent now? Moves an open breaker whose pause is over to half-open."""
        if self.state is BreakerState.OPEN:
            if now < self.open_until:
                return False
            self.state = BreakerState.HALF_OPEN
        return True

    @property
    def probing(self) -> bool:
        """Half-open: send one small probe, not a full claim."""
        return self.state is BreakerState.HALF_OPEN

    def wait_s(self, now: float) -> float:
        """How long until the breaker lets a send through (0 when it does now)."""
        return max(0.0, self.open_until - now) if self.state is BreakerState.OPEN else 0.0

    def success(self) -> None:
        """The target answered (accepted or rejected events): close."""
        self.state = BreakerState.CLOSED
        self.consecutive_failures = 0
        self._backoff.reset()

    def failure(self, now: float, retry_after_s: float | None = None) -> None:
        """A send failed as a whole; open after ``failures`` in a row (a probe: at once)."""
        self.consecutive_failures += 1
        if self.state is BreakerState.HALF_OPEN or self.consecutive_failures >= self.failures:
            pause = max(self._backoff.next_delay(), retry_after_s or 0.0)
            self.state = BreakerState.OPEN
            self.open_until = now + pause
        elif retry_after_s:
            # The target asked for a pause: honour it for the whole target, not per event.
            self.state = BreakerState.OPEN
            self.open_until = max(self.open_until, now + retry_after_s)
