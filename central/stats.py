"""The ingest's counters, shared between its threads and read by /healthz and the logs."""

from __future__ import annotations

import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

__all__ = ["IngestCounters", "IngestStats"]


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A consistent snapshot of the ingest since it started."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    conflicts: int = 0
    acks_published: int = 0
    dropped: int = 0
    store_failures: int = 0
    queued: int = 0
    connected: bool = False
    subscribed: bool = False
    last_commit_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestCounters:
    """Thread-safe counters; every change takes the lock, every read gets a snapshot.

    The values live in a plain dict rather than the frozen snapshot type, because the
    network thread counts every message and copying a dataclass each time showed in the
    ingest's profile.
    """

    _values: dict[str, Any] = field(default_factory=lambda: asdict(IngestStats()))
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                self._values[name] += n

    def count_received(self) -> None:
        """One more message taken off the broker (the per-message hot path)."""
        with self._lock:
            self._values["received"] += 1

    def set(self, **values: Any) -> None:
        with self._lock:
            for name, value in values.items():
                if name not in self._values:
                    raise KeyError(name)
                self._values[name] = value

    def snapshot(self, **live: Any) -> IngestStats:
        with self._lock:
            return replace(IngestStats(**self._values), **live)
