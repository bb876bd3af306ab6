"""The ingest's counters, shared between its threads and read by /healthz, /metrics and the
logs.

Besides the counts, two distributions are kept for ``/metrics``: how long a batch took
from the writer taking it to its commit, and how long each stored event took from its
observation at the station to its commit. They are bucketed here, one lock per batch,
rather than observed one by one into Prometheus objects: the writer's hot path pays a
``bisect`` per event and nothing else.
"""

from __future__ import annotations

import bisect
import logging
import threading
from collections import Counter
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field, replace
from datetime import datetime
from typing import Any

from linetrace.central.derive.stations import UNKNOWN_STATION_PREFIX
from linetrace.central.ingest.receiver import ReceiverCounts

__all__ = [
    "BATCH_SECONDS_BOUNDS",
    "DEAD_LETTER_CLASSES",
    "LAG_SECONDS_BOUNDS",
    "Distribution",
    "DistributionSnapshot",
    "IngestCounters",
    "IngestStats",
    "dead_letter_class",
    "log_summary",
]

log = logging.getLogger(__name__)

# A batch commits in milliseconds when the database is well; seconds mean it is not (or
# the writer waited out a database that was down).
BATCH_SECONDS_BOUNDS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0)
# Observation to commit: tens of milliseconds on a healthy line; minutes to hours after an
# edge was cut off and drains its outbox.
LAG_SECONDS_BOUNDS = (
    0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 300.0, 3600.0,
)  # fmt: skip
# Why messages are dead-lettered, in classes an operator acts on differently.
DEAD_LETTER_CLASSES = ("contract", "unknown_station", "disabled_station", "unchecked", "database")


def dead_letter_class(reason: str) -> str:
    """The class of a dead letter's reason (one of :data:`DEAD_LETTER_CLASSES`)."""
    if reason.startswith(UNKNOWN_STATION_PREFIX):
        return "unknown_station"
    if reason.startswith("station ") and " is disabled" in reason:
        return "disabled_station"
    if reason.startswith("the message could not be checked"):
        return "unchecked"
    if reason.startswith("the database refused"):
        return "database"
    return "contract"


@dataclass(frozen=True, slots=True)
class DistributionSnapshot:
    """Observations per bucket (``counts[i]`` <= ``bounds[i]``, the last one above all)."""

    bounds: tuple[float, ...]
    counts: tuple[int, ...]
    total: float

    @property
    def count(self) -> int:
        return sum(self.counts)


class Distribution:
    """Bucketed observations, as a Prometheus histogram exports them; thread-safe."""

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self._bounds = bounds
        self._counts = [0] * (len(bounds) + 1)
        self._total = 0.0
        self._lock = threading.Lock()

    def observe(self, values: Iterable[float]) -> None:
        """Add ``values`` (a batch's worth, under one lock)."""
        where = bisect.bisect_left
        bounds = self._bounds
        with self._lock:
            for value in values:
                self._counts[where(bounds, value)] += 1
                self._total += value

    def snapshot(self) -> DistributionSnapshot:
        with self._lock:
            return DistributionSnapshot(self._bounds, tuple(self._counts), self._total)


@dataclass(frozen=True, slots=True)
class IngestStats:
    """A consistent snapshot of the ingest since it started."""

    received: int = 0
    stored: int = 0
    duplicates: int = 0
    dead_lettered: int = 0
    conflicts: int = 0
    images_stored: int = 0  # no-read pictures stored apart from their events
    images_refused: int = 0  # no-read pictures dropped (not a JPEG); their events stored
    acks_published: int = 0
    dropped: int = 0
    acked: int = 0
    stale_acks: int = 0
    receiver_restarts: int = 0
    store_failures: int = 0
    store_error: str | None = None  # why batches cannot be stored now (cleared on a commit)
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
    _dead_letter_classes: Counter[str] = field(default_factory=Counter)
    batch_seconds: Distribution = field(default_factory=lambda: Distribution(BATCH_SECONDS_BOUNDS))
    lag_seconds: Distribution = field(default_factory=lambda: Distribution(LAG_SECONDS_BOUNDS))

    def add_dead_letters(self, reasons: Iterable[str]) -> None:
        """Count dead letters by the class of their reason."""
        classes = Counter(dead_letter_class(reason) for reason in reasons)
        with self._lock:
            self._dead_letter_classes.update(classes)

    def dead_letters_by_class(self) -> dict[str, int]:
        """Every class of :data:`DEAD_LETTER_CLASSES` with its count (zero included)."""
        with self._lock:
            return {name: self._dead_letter_classes[name] for name in DEAD_LETTER_CLASSES}

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
