"""What a sandbox can be told to do wrong, and the per-request decision that follows.

A :class:`FaultPlan` is plain data: set at start (``--faults JSON``, the constructor) and
changed at run time by ``POST /_sandbox/faults`` with the same JSON (keys not given stay
as they are). :class:`Faults` applies it request by request. Every random choice comes
from one ``random.Random(seed)`` drawn in request order, so the same seed and the same
requests give the same answers.

Downtime: one server cannot refuse connections while it still listens, so a window of
downtime either cuts each connection without an answer (``down_mode="drop"``, the
default: the client sees the connection closed mid-answer, a transport error, which is
what a relay sees when a repository restarts or a load balancer loses its backend) or
answers ``503`` with no ``Retry-After`` (``down_mode="503"``, a gateway in front of a
dead backend). A relay must ride out both. For a real refused connection, stop the
:class:`~linetrace.central.relay.sandbox.server.SandboxServer` and start it again on the
same port: its store survives.

``lose_answer_next`` is the nastiest case for a relay: the request IS processed (the
events are stored) but the answer is cut, so the relay must resend and its ledger (or
the target's duplicate check) must keep the events from being captured twice.
"""

from __future__ import annotations

import math
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Literal

from linetrace.errors import ContractError

__all__ = ["RANDOM_5XX", "Decision", "FaultPlan", "Faults", "InvalidFaults"]

# The statuses a flaky repository or its proxy answers with; chosen among at random
# (seeded) for ``error_rate`` so a relay meets every one of them.
RANDOM_5XX = (500, 502, 503, 504)

DownMode = Literal["drop", "503"]


class InvalidFaults(ContractError):
    """A fault plan (``--faults`` or ``POST /_sandbox/faults``) with an unknown key or bad value."""


@dataclass(frozen=True)
class FaultPlan:
    """Everything a test can make the sandbox do wrong; the defaults do nothing wrong.

    Times are seconds; windows (``downtime``) are ``[start, end)`` seconds since the
    sandbox started; ``*_for_s`` are windows starting when the plan is applied.
    """

    seed: int = 0
    error_rate: float = 0.0  # share of requests answered with a random 5xx
    latency_ms: float = 0.0  # added to every answer
    jitter_ms: float = 0.0  # plus a uniform random 0..jitter_ms
    fail_next: int = 0  # the next N requests answer fail_status
    fail_status: int = 503
    throttle_next: int = 0  # the next N requests answer 429
    throttle_for_s: float = 0.0  # ... or every request for this long
    retry_after_s: int | None = 1  # Retry-After on 429 (None: the window's remainder)
    max_body_bytes: int | None = None  # 413 for a request body above this
    down: bool = False  # down until told otherwise
    down_for_s: float = 0.0  # down for this long from now
    downtime: tuple[tuple[float, float], ...] = ()  # down in these windows since start
    down_mode: DownMode = "drop"
    lose_answer_next: int = 0  # process the next N requests, then cut their answer
    token_ttl_s: float | None = None  # vn-portal: tokens expire after this long

    @classmethod
    def from_mapping(cls, values: Mapping[str, object], base: FaultPlan | None = None) -> FaultPlan:
        """``base`` (default: no faults) with ``values`` applied; names each bad key."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(values) - known - {"reset", "expire_tokens"})
        if unknown:
            raise InvalidFaults(f"unknown fault keys {unknown}; known: {sorted(known)}")
        plan = base if base is not None and not values.get("reset") else cls()
        changes = {k: v for k, v in values.items() if k in known}
        if "downtime" in changes:
            changes["downtime"] = _windows(changes["downtime"])
        try:
            plan = replace(plan, **changes)  # type: ignore[arg-type]
        except TypeError as exc:
            raise InvalidFaults(str(exc)) from exc
        plan.check()
        return plan

    def check(self) -> None:
        """Raise :class:`InvalidFaults` naming each value out of range."""
        problems = []
        if not 0.0 <= float(self.error_rate) <= 1.0:
            problems.append(f"error_rate {self.error_rate!r} is not in [0, 1]")
        for name in ("latency_ms", "jitter_ms", "throttle_for_s", "down_for_s"):
            if float(getattr(self, name)) < 0:
                problems.append(f"{name} is negative")
        for name in ("fail_next", "throttle_next", "lose_answer_next"):
            if not isinstance(getattr(self, name), int) or getattr(self, name) < 0:
                problems.append(f"{name} must be a non-negative integer")
        if not 400 <= int(self.fail_status) <= 599:
            problems.append(f"fail_status {self.fail_status!r} is not an error status")
        if self.down_mode not in ("drop", "503"):
            problems.append(f"down_mode {self.down_mode!r} is not 'drop' or '503'")
        if problems:
            raise InvalidFaults("; ".join(problems))

    def as_dict(self) -> dict[str, object]:
        values = asdict(self)
        values["downtime"] = [list(w) for w in self.downtime]
        return values


def _windows(value: object) -> tuple[tuple[float, float], ...]:
    if not isinstance(value, list | tuple):
        raise InvalidFaults("downtime must be a list of [start, end] pairs")
    windows = []
    for window in value:
        if not isinstance(window, list | tuple) or len(window) != 2:
            raise InvalidFaults(f"downtime window {window!r} is not [start, end]")
        start, end = float(window[0]), float(window[1])
        if end <= start:
            raise InvalidFaults(f"downtime window {window!r} ends before it starts")
        windows.append((start, end))
    return tuple(windows)


@dataclass(frozen=True)
class Decision:
    """What to do with one request: ``action`` is ``pass``, ``answer``, ``drop`` or ``lose``.

    ``answer`` answers ``status`` with ``headers`` without reaching the profile; ``drop``
    cuts the connection unanswered; ``lose`` runs the profile, then cuts the answer.
    ``delay_s`` is waited first in every case. ``kind`` names the fault for the stats.
    """

    action: Literal["pass", "answer", "drop", "lose"] = "pass"
    status: int = 0
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0
    kind: str = ""


class Faults:
    """The plan in force, its run-time counters and its seeded random source."""

    def __init__(self, plan: FaultPlan, clock: Callable[[], float], started: float) -> None:
        self._clock = clock
        self._started = started
        self._lock = threading.Lock()
        self.token_epoch = 0  # raised by {"expire_tokens": true}: older tokens are void
        self.plan = plan
        self._random = random.Random(plan.seed)  # noqa: S311 - fault injection, not crypto
        self._until = {"throttle": 0.0, "down": 0.0}
        self._arm(plan, {"throttle_for_s", "down_for_s"})

    def _arm(self, plan: FaultPlan, given: set[str]) -> None:
        """Start the windows named in ``given`` from now (others keep running)."""
        now = self._clock()
        if "throttle_for_s" in given:
            self._until["throttle"] = now + plan.throttle_for_s
        if "down_for_s" in given:
            self._until["down"] = now + plan.down_for_s

    def update(self, values: Mapping[str, object]) -> FaultPlan:
        """Apply ``values`` (the control endpoint's JSON); a new seed restarts the random source."""
        with self._lock:
            plan = FaultPlan.from_mapping(values, self.plan)
            if "seed" in values or values.get("reset"):
                self._random = random.Random(plan.seed)  # noqa: S311
            self.plan = plan
            given = {"throttle_for_s", "down_for_s"} if values.get("reset") else set(values)
            self._arm(plan, given)
            if values.get("expire_tokens"):
                self.token_epoch += 1
            return plan

    def token_expired(self, issued_at: float, epoch: int) -> bool:
        """Whether a token issued at ``issued_at`` (this clock) in ``epoch`` is no longer good."""
        ttl = self.plan.token_ttl_s
        return epoch != self.token_epoch or (ttl is not None and self._clock() - issued_at >= ttl)

    def is_down(self) -> bool:
        plan, now = self.plan, self._clock()
        if plan.down or now < self._until["down"]:
            return True
        since = now - self._started
        return any(start <= since < end for start, end in plan.downtime)

    def decide(self, body_bytes: int | None) -> Decision:
        """The fault for the next request, whose body is ``body_bytes`` long (None: unknown)."""
        with self._lock:
            return self._decide(body_bytes)

    def _decide(self, body_bytes: int | None) -> Decision:
        plan = self.plan
        delay = plan.latency_ms / 1000.0
        if plan.jitter_ms:
            delay += self._random.uniform(0.0, plan.jitter_ms) / 1000.0
        if self.is_down():
            if plan.down_mode == "503":
                return Decision("answer", 503, delay_s=delay, kind="down")
            return Decision("drop", delay_s=delay, kind="down")
        now = self._clock()
        if plan.throttle_next or now < self._until["throttle"]:
            if plan.throttle_next:
                self.plan = replace(plan, throttle_next=plan.throttle_next - 1)
            after = plan.retry_after_s
            if after is None:
                after = max(1, math.ceil(self._until["throttle"] - now))
            return Decision("answer", 429, {"retry-after": str(after)}, delay, "throttled")
        if plan.fail_next:
            self.plan = replace(plan, fail_next=plan.fail_next - 1)
            return Decision("answer", plan.fail_status, delay_s=delay, kind="failed")
        if plan.error_rate and self._random.random() < plan.error_rate:
            status = self._random.choice(RANDOM_5XX)
            return Decision("answer", status, delay_s=delay, kind="random_error")
        limit = plan.max_body_bytes
        if limit is not None and body_bytes is not None and body_bytes > limit:
            return Decision("answer", 413, delay_s=delay, kind="too_large")
        if plan.lose_answer_next:
            self.plan = replace(plan, lose_answer_next=plan.lose_answer_next - 1)
            return Decision("lose", delay_s=delay, kind="answer_lost")
        return Decision(delay_s=delay)
