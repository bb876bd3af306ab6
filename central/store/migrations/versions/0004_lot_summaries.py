"""Lot summaries kept at ingest time, filled from what is stored; the indexes they replace.

Revision ID: 0004
Revises: 0003
Create Date: 2025-01-04

The lot trace used to aggregate a lot's reads and stays through two wide indexes; it now
reads the summaries, so those indexes go (one index entry less per event and per stay).

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
The backfill is the aggregate of ``derive.lot_summaries.rebuild_lot_summaries``, over all lots.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BACKFILL = [
    """
    INSERT INTO lot_summaries (lot, gtin, item_count)
    SELECT lot, COALESCE(gtin, ''), COUNT(DISTINCT CASE WHEN kind = 'read' THEN serial END)
    FROM events WHERE lot IS NOT NULL
    GROUP BY lot, COALESCE(gtin, '')
    """,
    """
    INSERT INTO lot_station_summaries
        (lot, gtin, site, line, station, reads, item_count, first_seen, last_seen)
    SELECT lot, COALESCE(gtin, ''), site, line, station, COUNT(*), COUNT(DISTINCT serial),
           MIN(observed_at), MAX(observed_at)
    FROM events WHERE lot IS NOT NULL AND kind = 'read'
    GROUP BY lot, COALESCE(gtin, ''), site, line, station
    """,
    """
    INSERT INTO lot_containers (lot, gtin, parent_code, item_count)
    SELECT child_lot, COALESCE(child_gtin, ''), parent_code, COUNT(DISTINCT child_code)
    FROM containment WHERE child_lot IS NOT NULL
    GROUP BY child_lot, COALESCE(child_gtin, ''), parent_code
    """,
]
_REPLACED_INDEXES = {
    "ix_events_lot_trace": (
        "events",
        ["lot", "gtin", "kind", "site", "line", "station", "observed_at", "serial"],
    ),
    "ix_containment_child_lot_child_gtin_parent_code_child_code": (
        "containment",
        ["child_lot", "child_gtin", "parent_code", "child_code"],
    ),
}


def upgrade() -> None:
    op.create_table(
        "lot_summaries",
        sa.Column("lot", sa.String(20), nullable=False, comment="GS1 AI 10"),
        sa.Column("gtin", sa.String(14), nullable=False, comment="'' when the events carry none"),
        sa.Column("item_count", sa.BigInteger(), nullable=False, comment="distinct serials read"),
        sa.PrimaryKeyConstraint("lot", "gtin", name="pk_lot_summaries"),
    )
    op.create_table(
        "lot_station_summaries",
        sa.Column("lot", sa.String(20), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False, comment="'' when the reads carry none"),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("reads", sa.BigInteger(), nullable=False),
        sa.Column(
            "item_count", sa.BigInteger(), nullable=False, comment="distinct serials read here"
        ),
        sa.Column("first_seen", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint(
            "lot", "gtin", "site", "line", "station", name="pk_lot_station_summaries"
        ),
    )
    op.create_table(
        "lot_containers",
        sa.Column("lot", sa.String(20), nullable=False, comment="the children's lot"),
        sa.Column("gtin", sa.String(14), nullable=False, comment="'' for children without one"),
        sa.Column("parent_code", sa.String(42), nullable=False),
        sa.Column(
            "item_count",
            sa.BigInteger(),
            nullable=False,
            comment="distinct children packed (ever)",
        ),
        sa.PrimaryKeyConstraint("lot", "gtin", "parent_code", name="pk_lot_containers"),
    )
    for statement in _BACKFILL:
        op.execute(statement)
    for name, (table, _) in _REPLACED_INDEXES.items():
        op.drop_index(name, table_name=table)


def downgrade() -> None:
    for name, (table, columns) in _REPLACED_INDEXES.items():
        op.create_index(name, table, columns)
    op.drop_table("lot_containers")
    op.drop_table("lot_station_summaries")
    op.drop_table("lot_summaries")
