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
    """Thread-safe counters; every change takes the lock, every read gets a snapshot."""

    _stats: IngestStats = field(default_factory=IngestStats)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **increments: int) -> None:
        with self._lock:
            changes = {name: getattr(self._stats, name) + n for name, n in increments.items()}
            self._stats = replace(self._stats, **changes)

    def set(self, **values: Any) -> None:
        with self._lock:
            self._stats = replace(self._stats, **values)

    def snapshot(self, **live: Any) -> IngestStats:
        with self._lock:
            return replace(self._stats, **live)
