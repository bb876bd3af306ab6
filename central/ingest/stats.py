"""The ingest's counters, shared between its threads and read by /healthz and the logs."""

from __future__ import annotations

import logging
import threading
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from linetrace.central.ingest.receiver import ReceiverCounts

__all__ = ["IngestCounters", "IngestStats", "log_summary"]

log = logging.getLogger(__name__)


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
    acked: int = 0
    stale_acks: int = 0
    receiver_restarts: int = 0
    store_failures: int = 0
    queued: int = 0
    connected: bool = False
    subscribed: bool = False
    writing: bool = False  # the writer thread runs: without it nothing is committed or acked
    last_commit_at: datetime | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class IngestCounters:
    """Thread-safe counters; every change takes the lock, every read gets a snapshot.

    The receiver process counts what happens on the MQTT side (received, dropped,
    acknowledged, refused as stale) and reports its totals since it started; the totals
    of the receivers that ended before it are kept apart and added, so a restart of the
    receiver never moves a counter back.
    """

    _values: dict[str, Any] = field(default_factory=lambda: asdict(IngestStats()))
    _receiver_ended: ReceiverCounts = field(default_factory=ReceiverCounts)
    _receiver_now: ReceiverCounts = field(default_factory=ReceiverCounts)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, **increments: int) -> None:
        with self._lock:
            for name, n in increments.items():
                self._values[name] += n

    def set(self, **values: Any) -> None:
        with self._lock:
            for name, value in values.items():
                if name not in self._values:
                    raise KeyError(name)
                self._values[name] = value

    def receiver_counts(self, counts: ReceiverCounts) -> None:
        """The running receiver's totals since it started."""
        with self._lock:
            self._receiver_now = counts

    def receiver_ended(self) -> None:
        """The running receiver ended: keep its totals, start from zero for the next."""
        with self._lock:
            self._receiver_ended = ReceiverCounts(
                *(a + b for a, b in zip(self._receiver_ended, self._receiver_now, strict=True))
            )
            self._receiver_now = ReceiverCounts()

    def snapshot(self, **live: Any) -> IngestStats:
        with self._lock:
            receiver = {
                name: ended + now
                for name, ended, now in zip(
                    ReceiverCounts._fields, self._receiver_ended, self._receiver_now, strict=True
                )
            }
            return replace(IngestStats(**{**self._values, **receiver}), **live)


def log_summary(now: IngestStats, previous: IngestStats) -> None:
    """Log the counters in one line if anything was received since ``previous``."""
    if (now.received, now.dead_lettered) != (previous.received, previous.dead_lettered):
        log.info(
            "ingest: %s received, %s stored, %s duplicates, %s dead letters, %s queued, "
            "%s acknowledged, %s stale acks, %s receiver restarts",
            now.received,
            now.stored,
            now.duplicates,
            now.dead_lettered,
            now.queued,
            now.acked,
            now.stale_acks,
            now.receiver_restarts,
        )
