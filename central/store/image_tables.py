"""The no-read images: each no-read's JPEG, kept apart from its event.

A no-read event arrives with its snapshot inside (base64 in the payload); the ingest
moves the picture here, in the transaction that stores the event, and leaves only its
SHA-256 and size in the stored payload. The events table stays small and append-only,
while the pictures, the bulk of the bytes, can be let go on their own schedule
(``[images]`` keep_days and max_total_mb; :mod:`.images`) without touching the record.
Site, line and station are copied from the event so a scope check and the pruning need
no join into the large events table.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = ["noread_images"]

noread_images = sa.Table(
    "noread_images",
    metadata,
    sa.Column("event_id", sa.Uuid(), primary_key=True, comment="the no-read event"),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("line", sa.String(64), nullable=False),
    sa.Column("station", sa.String(64), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False, comment="when central took it"),
    sa.Column("jpeg", sa.LargeBinary(), nullable=False, comment="the picture as sent"),
    sa.Column("size", sa.Integer(), nullable=False, comment="bytes of jpeg"),
    sa.Column("sha256", sa.String(64), nullable=False, comment="hex SHA-256 of jpeg"),
    # Pruning walks the oldest first.
    sa.Index(None, "received_at", "event_id"),
)
