"""Reading no-read pictures back: one picture with what a person needs beside it, and which
events of a listing have one.

In: an event_id (or a page's event_ids) and the caller's scope clause. Out: the JPEG and
its facts (station, times, frames, why no code was read), or the set of event_ids whose
picture is still kept (pruning may have let it go while the event stays).
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.image_tables import noread_images
from linetrace.central.store.tables import events

__all__ = ["StoredImage", "find_image", "mark_images", "with_images"]

# Ids per statement for the listing's look-up: a page holds at most a thousand events.
_CHUNK = 1000


@dataclass(frozen=True, slots=True)
class StoredImage:
    """A no-read's picture and the facts shown beside it."""

    event_id: UUID
    site: str
    line: str
    station: str
    observed_at: datetime  # in the station's own UTC offset
    received_at: datetime
    frames: int
    jpeg: bytes
    sha256: str
    reason: str | None  # the edge's failed checks; None: located, never decoded

    def facts(self) -> dict[str, Any]:
        """Everything but the picture, as JSON values."""
        return {
            "event_id": str(self.event_id),
            "site": self.site,
            "line": self.line,
            "station": self.station,
            "observed_at": self.observed_at.isoformat(),
            "received_at": self.received_at.isoformat(),
            "frames": self.frames,
            "size": len(self.jpeg),
            "sha256": self.sha256,
            "reason": self.reason,
        }


def _reason(payload: dict[str, Any]) -> str | None:
    """What the edge said was wrong (failed checks); None when it only never decoded."""
    failed = [
        f"{name}: {result.get('detail')}" if result.get("detail") else name
        for name, result in (payload.get("checks") or {}).items()
        if isinstance(result, dict) and not result.get("passed", True)
    ]
    return "; ".join(failed) if failed else None


def find_image(
    connection: Connection, event_id: UUID, scope: sa.ColumnElement[bool] | None = None
) -> StoredImage | None:
    """The picture of ``event_id`` within ``scope`` (a clause on noread_images), or None."""
    i, e = noread_images.c, events.c
    row = (
        connection.execute(
            sa.select(
                i.event_id,
                i.site,
                i.line,
                i.station,
                i.received_at,
                i.jpeg,
                i.sha256,
                e.observed_at,
                e.utc_offset_s,
                e.frames,
                e.payload,
            )
            .join_from(noread_images, events, e.event_id == i.event_id)
            .where(i.event_id == event_id, scope if scope is not None else sa.true())
        )
        .mappings()
        .one_or_none()
    )
    if row is None:
        return None
    offset = timezone(timedelta(seconds=row["utc_offset_s"]))
    return StoredImage(
        event_id=row["event_id"],
        site=row["site"],
        line=row["line"],
        station=row["station"],
        observed_at=row["observed_at"].astimezone(offset),
        received_at=row["received_at"],
        frames=row["frames"],
        jpeg=row["jpeg"],
        sha256=row["sha256"],
        reason=_reason(row["payload"] or {}),
    )


def with_images(connection: Connection, event_ids: Collection[UUID]) -> set[UUID]:
    """Those of ``event_ids`` whose picture is kept."""
    ordered = sorted(event_ids)
    found: set[UUID] = set()
    for start in range(0, len(ordered), _CHUNK):
        chunk = ordered[start : start + _CHUNK]
        found.update(
            connection.execute(
                sa.select(noread_images.c.event_id).where(noread_images.c.event_id.in_(chunk))
            ).scalars()
        )
    return found


def mark_images(connection: Connection, documents: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``documents`` (events as JSON) with ``has_image`` set on each: one query per page."""
    noreads = {
        UUID(str(document["event_id"]))
        for document in documents
        if document.get("kind") == "noread"
    }
    kept = {str(event_id) for event_id in with_images(connection, noreads)} if noreads else set()
    return [{**document, "has_image": str(document["event_id"]) in kept} for document in documents]
