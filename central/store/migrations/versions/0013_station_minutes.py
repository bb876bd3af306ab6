"""Per-station, per-minute read counts for the dashboard; the containment's child lot index.

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05

``station_minutes`` holds each station's reads and no-reads per UTC minute, kept by the
ingest in the transaction that stores the events: the dashboard reads its last hour from
there instead of counting every event of the hour on each refresh. The upgrade backfills
the minutes of the last two hours from the stored events (the dashboard shows one), in
ten-minute steps with a progress bar on a terminal; older minutes are never shown, so
they are left out.

``ix_containment_child_gtin_child_lot`` lets the lot export find the packs of a lot's
items (``child_gtin = ? AND child_lot = ?``) with a seek instead of a scan of the table.

Written out in full rather than imported from the tables module: a migration records
the schema at its revision.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

import sqlalchemy as sa
from alembic import op
from sqlalchemy.engine import Connection

from linetrace.progress import progress  # display only: no bearing on what is written

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = timedelta(hours=2)
_STEP = timedelta(minutes=10)

# The minute of observed_at, as each backend stores a UTC time: PostgreSQL's timestamptz,
# SQLite's naive UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (so the minute is text of the same
# shape, equal to what the ingest writes for that minute). Events at or after :start, and
# before :end but in the last step, which takes any later one too.
_COUNT = {
    "postgresql": "date_trunc('minute', observed_at)",
    "sqlite": "strftime('%Y-%m-%d %H:%M:00.000000', observed_at)",
}
_BACKFILL_SQL = """
INSERT INTO station_minutes (site, line, station, minute, reads, noreads)
SELECT site, line, station, {minute} AS minute,
       SUM(CASE WHEN kind = 'read' THEN 1 ELSE 0 END),
       SUM(CASE WHEN kind = 'noread' THEN 1 ELSE 0 END)
FROM events
WHERE kind IN ('read', 'noread') AND observed_at >= :start{upper}
GROUP BY site, line, station, {minute}
"""


def upgrade() -> None:
    op.create_table(
        "station_minutes",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column(
            "minute",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="UTC minute of observed_at",
        ),
        sa.Column("reads", sa.BigInteger(), nullable=False),
        sa.Column("noreads", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("site", "line", "station", "minute", name="pk_station_minutes"),
    )
    op.create_index("ix_station_minutes_minute", "station_minutes", ["minute"])
    op.create_index(
        "ix_containment_child_gtin_child_lot", "containment", ["child_gtin", "child_lot"]
    )
    _backfill(op.get_bind(), datetime.now(UTC))


def downgrade() -> None:
    op.drop_index("ix_containment_child_gtin_child_lot", table_name="containment")
    op.drop_table("station_minutes")


def _backfill(connection: Connection, now: datetime) -> None:
    """Count the reads and no-reads of the minutes from two hours ago, a step at a time."""
    name = connection.dialect.name
    if name not in _COUNT:
        raise NotImplementedError(f"no station_minutes backfill for the {name} dialect")
    minute = _COUNT[name]
    bounded = sa.text(_BACKFILL_SQL.format(minute=minute, upper=" AND observed_at < :end"))
    last = sa.text(_BACKFILL_SQL.format(minute=minute, upper=""))
    start = (now - _BACKFILL).replace(second=0, microsecond=0)
    steps = int(_BACKFILL / _STEP)
    with progress("counting recent reads per minute", total=steps, unit="steps") as bar:
        for step in range(steps):
            begin = start + step * _STEP
            if step == steps - 1:
                connection.execute(last, {"start": _at(name, begin)})
            else:
                bounds = {"start": _at(name, begin), "end": _at(name, begin + _STEP)}
                connection.execute(bounded, bounds)
            bar.advance()


def _at(dialect: str, when: datetime) -> Any:
    """A bound time as this revision's events hold it (SQLite: naive UTC text)."""
    if dialect != "sqlite":
        return when
    return when.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")
