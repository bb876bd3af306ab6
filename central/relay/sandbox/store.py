"""What an EPCIS sandbox accepted: events in order with an eventID index, and capture jobs.

In memory on purpose: a sandbox lives for one test, benchmark or demo, and the relay's
throughput figure must measure the relay, not the stand-in's storage. Events become
visible (``GET /events``) when their capture job finishes, as in a repository that
commits a job at its end; their eventIDs are reserved from the moment the job is
accepted, so a second job carrying the same event is told it is a duplicate.
"""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

__all__ = ["CaptureJob", "EventStore", "StoredEvent"]


@dataclass(frozen=True)
class StoredEvent:
    event_id: str
    body: dict[str, Any]
    visible_at: float  # monotonic time from which GET /events shows it


@dataclass
class CaptureJob:
    """One capture job as ``GET /capture/{id}`` shows it (``errors``: RFC 7807 problems)."""

    capture_id: str
    created_at: datetime
    finishes_at: float  # monotonic
    finished_at: datetime | None
    success: bool
    behaviour: str
    errors: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, now: float, wall: datetime) -> dict[str, Any]:
        running = now < self.finishes_at
        body: dict[str, Any] = {
            "captureID": self.capture_id,
            "createdAt": _iso(self.created_at),
            "running": running,
            "success": self.success or running,
            "captureErrorBehaviour": self.behaviour,
            "errors": [] if running else self.errors,
        }
        if not running:
            body["finishedAt"] = _iso(self.finished_at or wall)
        return body


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


class EventStore:
    """Accepted events (duplicates allowed where the profile stores them) and jobs."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.events: list[StoredEvent] = []
        self.index: dict[str, list[int]] = {}
        self.jobs: dict[str, CaptureJob] = {}

    def known(self, event_id: str) -> bool:
        return event_id in self.index

    def add(self, events: list[dict[str, Any]], visible_at: float, *, replace: bool) -> None:
        """Store ``events``; with ``replace``, one carrying an ``errorDeclaration`` and a known
        eventID replaces the stored one (OpenEPCIS), else every event is appended."""
        with self._lock:
            for body in events:
                event_id = body.get("eventID")
                if not isinstance(event_id, str):
                    event_id = f"urn:uuid:{uuid.uuid4()}"
                    body["eventID"] = event_id
                stored = StoredEvent(event_id, body, visible_at)
                places = self.index.get(event_id)
                if replace and places and "errorDeclaration" in body:
                    self.events[places[-1]] = stored
                    continue
                self.index.setdefault(event_id, []).append(len(self.events))
                self.events.append(stored)

    def add_job(self, job: CaptureJob) -> None:
        with self._lock:
            self.jobs[job.capture_id] = job

    def visible(self, now: float, event_ids: set[str] | None = None) -> list[dict[str, Any]]:
        """Stored events visible at ``now``, in capture order (only ``event_ids`` if given)."""
        with self._lock:
            if event_ids is None:
                return [e.body for e in self.events if e.visible_at <= now]
            places = sorted(p for i in event_ids for p in self.index.get(i, ()))
            return [self.events[p].body for p in places if self.events[p].visible_at <= now]

    def reset(self) -> None:
        with self._lock:
            self.events.clear()
            self.index.clear()
            self.jobs.clear()
