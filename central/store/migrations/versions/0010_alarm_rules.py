"""Alarm thresholds per station, acknowledgement comments, saved dashboard layouts.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-05

Alarms: ``alarm_rules`` holds the thresholds an admin sets (one JSON object of rules for
the site-wide default, ``*``, and per station), and ``alarms.acknowledged_comment`` what
the acknowledging person wrote.

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    _create_dashboard_layouts()
    _create_alarm_rules()


def downgrade() -> None:
    _drop_alarm_rules()
    op.drop_table("dashboard_layouts")


# -- saved dashboard layouts (the dashboard's part) -------------------------------------


def _create_dashboard_layouts() -> None:
    op.create_table(
        "dashboard_layouts",
        sa.Column("user_name", sa.String(128), nullable=False),
        sa.Column("name", sa.String(64), nullable=False),
        sa.Column("layout", sa.JSON(), nullable=False, comment="shown groups, order, density"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("user_name", "name", name="pk_dashboard_layouts"),
    )


# -- alarm thresholds and acknowledgement comments (the alarms' part) ---------------------


def _create_alarm_rules() -> None:
    op.create_table(
        "alarm_rules",
        sa.Column("scope", sa.String(200), nullable=False, comment="* or SITE/LINE/STATION"),
        sa.Column("rules", sa.JSON(), nullable=False, comment="threshold name -> value or null"),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_by", sa.String(128), nullable=False, comment="who set them"),
        sa.PrimaryKeyConstraint("scope", name="pk_alarm_rules"),
    )
    op.add_column(
        "alarms",
        sa.Column("acknowledged_comment", sa.Text(), comment="what the acknowledging person wrote"),
    )


def _drop_alarm_rules() -> None:
    with op.batch_alter_table("alarms") as batch:
        batch.drop_column("acknowledged_comment")
    op.drop_table("alarm_rules")
