"""The one small interface every relay target implements, and what crosses it.

The worker hands an adapter one document's worth of events (:class:`Outgoing`, already
mapped to EPCIS 2.0 with their eventIDs) and gets back, per event, what the target said
(:class:`Outcome`): accepted, rejected with the target's own reason, or to be tried
again (a transient failure, with the target's ``Retry-After`` when it gave one). The
adapter knows its protocol; the worker owns the queue, the retries, the breaker and the
ledger, so a new target (Vietnam's other state systems are coming) is one module.

An adapter may also implement :class:`Reconciling`: asked about events whose answer was
lost, it says which the target already holds, so they are not sent again.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from uuid import UUID

from linetrace.errors import LinetraceError

__all__ = ["Outcome", "Outgoing", "Reconciling", "Target", "TargetError"]


class TargetError(LinetraceError):
    """A target cannot be set up from its settings (a bad option, an unusable URL)."""


@dataclass(frozen=True)
class Outgoing:
    """One event to deliver: the stored event it came from and its EPCIS 2.0 form."""

    source_event_id: UUID
    epcis_event_id: str
    lot: str | None
    gtin: str | None
    body: dict[str, Any]


@dataclass
class Outcome:
    """What a target said about one send; every event handed in lands in one list.

    ``rejected`` holds the target's reason per event (its words, for the operator).
    ``retry`` are events to send again later, with ``error`` saying why and
    ``retry_after_s`` when the target asked for a pause.
    """

    accepted: list[UUID] = field(default_factory=list)
    rejected: dict[UUID, str] = field(default_factory=dict)
    retry: list[UUID] = field(default_factory=list)
    retry_after_s: float | None = None
    error: str | None = None
    # True when the send may have reached the target without its answer reaching us (a
    # cut connection, a job still running): the ``retry`` events may be held already,
    # so the worker asks the target (or its ledger) before sending them again.
    in_doubt: bool = False

    @classmethod
    def all_retry(
        cls,
        events: Sequence[Outgoing],
        error: str,
        retry_after_s: float | None = None,
        *,
        in_doubt: bool = False,
    ) -> Outcome:
        """Nothing was delivered: every event is tried again."""
        return cls(
            retry=[event.source_event_id for event in events],
            retry_after_s=retry_after_s,
            error=error,
            in_doubt=in_doubt,
        )

    def merge(self, other: Outcome) -> None:
        """Add another send's outcome (a halved document's halves)."""
        self.accepted += other.accepted
        self.rejected.update(other.rejected)
        self.retry += other.retry
        if other.retry_after_s is not None:
            self.retry_after_s = max(self.retry_after_s or 0.0, other.retry_after_s)
        self.error = other.error or self.error
        self.in_doubt = self.in_doubt or other.in_doubt


class Target(Protocol):
    """A place events are relayed to: one per ``[[relay.targets]]`` entry."""

    name: str

    def limits(self) -> tuple[int, int]:
        """Most events and most bytes the target takes in one request."""
        ...

    def deliver(self, events: Sequence[Outgoing]) -> Outcome:
        """Send ``events`` (one document's worth) and say what became of each."""
        ...

    def health(self) -> dict[str, object]:
        """The adapter's own view of the target (limits, token, last answer), for status."""
        ...


@runtime_checkable
class Reconciling(Protocol):
    """A target that can say which events it already holds (EPCIS: the query interface)."""

    def already_captured(self, events: Sequence[Outgoing]) -> set[UUID]:
        """The ``source_event_id`` of each of ``events`` the target already stores."""
        ...
