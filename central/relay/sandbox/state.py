"""What every profile of one sandbox shares: its faults, counters, auth, clock and checks."""

from __future__ import annotations

import base64
import binascii
import secrets
import threading
import time
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

from linetrace.central.relay.sandbox.faults import FaultPlan, Faults
from linetrace.central.relay.sandbox.validation import DocumentValidator

__all__ = ["Auth", "SandboxState", "Stats"]


class Stats:
    """Counters shown by ``GET /_sandbox/stats``; safe to bump from any thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: Counter[str] = Counter()
        self.responses: Counter[str] = Counter()
        self.rejections: Counter[str] = Counter()
        self.faults: Counter[str] = Counter()

    def add(self, name: str, n: int = 1) -> None:
        """Bump a named figure: requests, documents, events_accepted, duplicates ..."""
        with self._lock:
            self.counts[name] += n

    def reject(self, reason: str, n: int = 1) -> None:
        """Count ``n`` rejections for ``reason`` (a short word: schema, duplicate, too_large ...)."""
        with self._lock:
            self.rejections[reason] += n

    def answered(self, status: int, fault: str = "") -> None:
        with self._lock:
            self.counts["requests"] += 1
            self.responses[str(status)] += 1
            if fault:
                self.faults[fault] += 1

    def reset(self) -> None:
        with self._lock:
            for counter in (self.counts, self.responses, self.rejections, self.faults):
                counter.clear()

    def snapshot(self) -> dict[str, object]:
        with self._lock:
            return {
                "requests": self.counts["requests"],
                "documents": self.counts["documents"],
                "events_accepted": self.counts["events_accepted"],
                "duplicates": self.counts["duplicates"],
                "rejections": dict(self.rejections),
                "responses": dict(self.responses),
                "faults_injected": dict(self.faults),
                "other": {
                    k: v
                    for k, v in self.counts.items()
                    if k not in {"requests", "documents", "events_accepted", "duplicates"}
                },
            }


@dataclass(frozen=True)
class Auth:
    """HTTP Basic (``user`` + ``password``) and/or bearer (``token``); none set: open."""

    user: str | None = None
    password: str | None = None
    token: str | None = None

    @property
    def required(self) -> bool:
        return bool(self.token or self.user)

    def problem(self, headers: Mapping[str, str]) -> str | None:
        """Why the request's ``Authorization`` is refused, or None when it is good."""
        if not self.required:
            return None
        given = headers.get("authorization", "")
        scheme, _, credentials = given.partition(" ")
        if scheme.lower() == "bearer" and self.token:
            return None if secrets.compare_digest(credentials, self.token) else "bad token"
        if scheme.lower() == "basic" and self.user:
            try:
                user, _, password = base64.b64decode(credentials).decode().partition(":")
            except (binascii.Error, UnicodeDecodeError):
                return "malformed Basic credentials"
            good = secrets.compare_digest(user, self.user) and secrets.compare_digest(
                password, self.password or ""
            )
            return None if good else "bad user or password"
        return "credentials required" if not given else f"{scheme or 'no'} scheme not accepted"

    def challenge(self) -> str:
        """The ``WWW-Authenticate`` value for a 401."""
        return 'Bearer realm="sandbox"' if self.token and not self.user else 'Basic realm="sandbox"'


def _utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass
class SandboxState:
    """One sandbox's shared parts, handed to its profile's builder.

    ``monotonic`` and ``now`` are the clock (replaceable in tests); ``job_running_s`` is
    how long an asynchronous capture job reads ``running: true``; ``options`` carries
    profile-specific settings (e.g. the vn-portal client credentials) from the CLI.
    """

    profile: str
    validator: DocumentValidator
    plan: FaultPlan = field(default_factory=FaultPlan)
    auth: Auth = field(default_factory=Auth)
    job_running_s: float = 0.0
    options: dict[str, object] = field(default_factory=dict)
    monotonic: Callable[[], float] = time.monotonic
    now: Callable[[], datetime] = _utcnow
    stats: Stats = field(default_factory=Stats)
    started: float = field(init=False)
    faults: Faults = field(init=False)

    def __post_init__(self) -> None:
        self.started = self.monotonic()
        self.faults = Faults(self.plan, self.monotonic, self.started)
