"""No-read snapshots stored apart from the events, with their own retention.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05

``noread_images`` holds each no-read's JPEG (moved out of the event's payload by the
ingest, which keeps only its SHA-256 and size there), so the pictures can be pruned by
age and total size without touching the events.

The upgrade also backfills: a no-read stored before this revision still has its base64
``snapshot`` inside ``events.payload``. Each one's picture is moved into
``noread_images`` and its payload rewritten exactly as the ingest now stores it
(``snapshot_sha256`` and ``snapshot_bytes``, or ``snapshot_refused`` for text that is not
a base64 JPEG), so a resend of the old event is still a duplicate and the old pictures
fall under the same retention. The no-reads are walked in event_id order, a batch at a
time, so memory stays flat however many there are (with a progress bar on a terminal).

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from linetrace.progress import progress  # display only: no bearing on what is written

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "noread_images",
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="the no-read event"),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when central took it",
        ),
        sa.Column("jpeg", sa.LargeBinary(), nullable=False, comment="the picture as sent"),
        sa.Column("size", sa.Integer(), nullable=False, comment="bytes of jpeg"),
        sa.Column("sha256", sa.String(64), nullable=False, comment="hex SHA-256 of jpeg"),
        sa.PrimaryKeyConstraint("event_id", name="pk_noread_images"),
    )
    op.create_index(
        "ix_noread_images_received_at_event_id", "noread_images", ["received_at", "event_id"]
    )
    _backfill(op.get_bind())


def downgrade() -> None:
    op.drop_table("noread_images")


# The backfill: a copy of central/ingest/snapshots.py's rules as they were at this
# revision (the module may change; what this revision wrote may not).
_JPEG_MAGIC = b"\xff\xd8\xff"
_BATCH = 200  # no-reads per round trip: at most ~17 MB of pictures in memory

_events = sa.table(
    "events",
    sa.column("event_id", sa.Uuid()),
    sa.column("site", sa.String()),
    sa.column("line", sa.String()),
    sa.column("station", sa.String()),
    sa.column("kind", sa.String()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("payload", sa.JSON()),
)
_images = sa.table(
    "noread_images",
    sa.column("event_id", sa.Uuid()),
    sa.column("site", sa.String()),
    sa.column("line", sa.String()),
    sa.column("station", sa.String()),
    sa.column("received_at", sa.DateTime(timezone=True)),
    sa.column("jpeg", sa.LargeBinary()),
    sa.column("size", sa.Integer()),
    sa.column("sha256", sa.String()),
)


def _split(payload: Mapping[str, Any], text: str) -> tuple[dict[str, Any], bytes | None]:
    """The payload as the ingest stores it, and the JPEG (None when refused)."""
    stored = {key: value for key, value in payload.items() if key != "snapshot"}
    refused: str | None = None
    try:
        jpeg: bytes | None = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        jpeg, refused = None, "not base64"
    if jpeg is not None and not jpeg.startswith(_JPEG_MAGIC):
        jpeg, refused = None, "not a JPEG"
    if jpeg is None:
        stored["snapshot_sha256"] = hashlib.sha256(
            text.encode("utf-8", "surrogatepass")
        ).hexdigest()
        stored["snapshot_bytes"] = 0
        stored["snapshot_refused"] = refused
    else:
        stored["snapshot_sha256"] = hashlib.sha256(jpeg).hexdigest()
        stored["snapshot_bytes"] = len(jpeg)
    return stored, jpeg


def _backfill(connection: Connection) -> None:
    """Move the pictures of no-reads stored with their snapshot inline, a batch at a time."""
    noreads = _events.c.kind == "noread"
    total = connection.execute(sa.select(sa.func.count()).where(noreads)).scalar_one()
    columns = [_events.c[name] for name in ("event_id", "site", "line", "station")]
    query = sa.select(*columns, _events.c.received_at, _events.c.payload).where(noreads)
    update = (
        sa.update(_events)
        .where(_events.c.event_id == sa.bindparam("b_event_id"))
        .values(payload=sa.bindparam("b_payload", type_=sa.JSON()))
    )
    last = None
    with progress("moving no-read pictures", total=total, unit="no-reads") as bar:
        while True:
            page = query.order_by(_events.c.event_id).limit(_BATCH)
            if last is not None:
                page = page.where(_events.c.event_id > last)
            rows = connection.execute(page).all()
            if not rows:
                return
            last = rows[-1].event_id
            _move(connection, rows, update)
            bar.advance(len(rows))


def _move(connection: Connection, rows: Sequence[Any], update: sa.Update) -> None:
    rewritten: list[dict[str, Any]] = []
    pictures: list[dict[str, Any]] = []
    for row in rows:
        payload = row.payload if isinstance(row.payload, Mapping) else json.loads(row.payload)
        text = payload.get("snapshot")
        if not isinstance(text, str):
            continue
        stored, jpeg = _split(payload, text)
        rewritten.append({"b_event_id": row.event_id, "b_payload": stored})
        if jpeg is not None:
            pictures.append(
                {
                    "event_id": row.event_id,
                    "site": row.site,
                    "line": row.line,
                    "station": row.station,
                    "received_at": row.received_at,
                    "jpeg": jpeg,
                    "size": len(jpeg),
                    "sha256": stored["snapshot_sha256"],
                }
            )
    if rewritten:
        connection.execute(update, rewritten)
    if pictures:
        connection.execute(sa.insert(_images), pictures)
