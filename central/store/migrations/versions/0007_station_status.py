"""The last status each station reported: its state, its time and its figures.

Revision ID: 0007
Revises: 0006
Create Date: 2025-01-07

Central compares each status with the one before it (a ``lost`` figure that went up
means events were refused at a full outbox) and ``GET /api/stations`` shows it.

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "station_status",
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("state", sa.String(16), nullable=False, comment="online, degraded or offline"),
        sa.Column(
            "at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="station's time of its latest status",
        ),
        sa.Column(
            "received_at",
            sa.DateTime(timezone=True),
            nullable=False,
            comment="when central took it",
        ),
        sa.Column(
            "metrics",
            sa.JSON(),
            nullable=False,
            comment="the last figures reported (a last will carries none and keeps them)",
        ),
        sa.PrimaryKeyConstraint("site", "line", "station", name="pk_station_status"),
    )


def downgrade() -> None:
    op.drop_table("station_status")
