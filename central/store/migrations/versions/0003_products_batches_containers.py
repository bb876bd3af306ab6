"""Products, production batches, event check outcomes, containment; trace indexes on events.

Revision ID: 0003
Revises: 0002
Create Date: 2025-01-03

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_OPEN = sa.text("closed_at IS NULL")
_NOREAD = sa.text("kind = 'noread'")


def upgrade() -> None:
    op.create_table(
        "products",
        sa.Column("gtin", sa.String(14), nullable=False, comment="GTIN-14, check digit verified"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("image_url", sa.Text()),
        sa.Column("producer_name", sa.Text()),
        sa.Column("producer_address", sa.Text()),
        sa.Column("producer_gln", sa.String(13), comment="GS1 GLN of the producer (AI 417)"),
        sa.Column("unit", sa.String(32), comment="unit of measure, e.g. box, bottle, KGM"),
        sa.Column(
            "standards", sa.JSON(), nullable=False, comment="applied TCVN/QCVN/ISO standards"
        ),
        sa.Column("description", sa.Text()),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gtin", name="pk_products"),
    )

    op.create_table(
        "batches",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("gtin", sa.String(14), nullable=False),
        sa.Column("lot", sa.String(20), nullable=False, comment="GS1 AI 10"),
        sa.Column("expiry", sa.Date(), comment="GS1 AI 17"),
        sa.Column("production_date", sa.Date(), comment="GS1 AI 11"),
        sa.Column("target_quantity", sa.Integer()),
        sa.Column("production_order", sa.String(64), comment="ERP production order id"),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), comment="null while the batch is open"),
        sa.PrimaryKeyConstraint("id", name="pk_batches"),
        sa.ForeignKeyConstraint(["gtin"], ["products.gtin"], name="fk_batches_gtin_products"),
    )
    op.create_index(
        "uq_batches_open_line",
        "batches",
        ["site", "line"],
        unique=True,
        sqlite_where=_OPEN,
        postgresql_where=_OPEN,
    )
    op.create_index("ix_batches_site_line_started_at", "batches", ["site", "line", "started_at"])
    op.create_index("ix_batches_lot_gtin", "batches", ["lot", "gtin"])

    op.create_table(
        "event_checks",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.Uuid(), nullable=False),
        sa.Column("source", sa.String(8), nullable=False, comment="central or edge"),
        sa.Column("check", sa.String(64), nullable=False),
        sa.Column("detail", sa.Text(), nullable=False),
        sa.Column("batch_id", _BigId, comment="open at observed_at"),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column("observed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("gtin", sa.String(14)),
        sa.Column("lot", sa.String(20)),
        sa.Column("code", sa.Text(), comment="the event's decoded text, for display"),
        sa.PrimaryKeyConstraint("id", name="pk_event_checks"),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name="fk_event_checks_batch_id_batches"
        ),
        sa.UniqueConstraint(
            "event_id", "source", "check", name="uq_event_checks_event_id_source_check"
        ),
    )
    op.create_index("ix_event_checks_batch_id_station", "event_checks", ["batch_id", "station"])
    op.create_index("ix_event_checks_lot_gtin", "event_checks", ["lot", "gtin"])

    op.create_table(
        "containment",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("parent_code", sa.String(42), nullable=False),
        sa.Column("child_code", sa.String(42), nullable=False),
        sa.Column("child_gtin", sa.String(14), comment="null for a child SSCC"),
        sa.Column("child_lot", sa.String(20), comment="the child's lot, when known"),
        sa.Column("packed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("packed_event_id", sa.Uuid(), nullable=False),
        sa.Column("site", sa.String(64), nullable=False),
        sa.Column("line", sa.String(64), nullable=False),
        sa.Column("station", sa.String(64), nullable=False),
        sa.Column(
            "unpacked_at",
            sa.DateTime(timezone=True),
            comment="null while the child is in this parent",
        ),
        sa.Column("unpacked_event_id", sa.Uuid(), comment="the pack event that moved the child"),
        sa.PrimaryKeyConstraint("id", name="pk_containment"),
    )
    op.create_index(
        "ix_containment_child_code_packed_at", "containment", ["child_code", "packed_at"]
    )
    op.create_index(
        "ix_containment_parent_code_packed_at", "containment", ["parent_code", "packed_at"]
    )
    op.create_index(
        "ix_containment_child_lot_child_gtin_parent_code_child_code",
        "containment",
        ["child_lot", "child_gtin", "parent_code", "child_code"],
    )

    op.create_index(
        "ix_events_lot_trace",
        "events",
        ["lot", "gtin", "kind", "site", "line", "station", "observed_at", "serial"],
    )
    op.create_index(
        "ix_events_lot_items", "events", ["lot", "gtin", "serial", "kind", "observed_at"]
    )
    op.create_index(
        "ix_events_noread_line",
        "events",
        ["site", "line", "observed_at", "station"],
        sqlite_where=_NOREAD,
        postgresql_where=_NOREAD,
    )


def downgrade() -> None:
    op.drop_index("ix_events_noread_line", table_name="events")
    op.drop_index("ix_events_lot_items", table_name="events")
    op.drop_index("ix_events_lot_trace", table_name="events")
    op.drop_table("containment")
    op.drop_table("event_checks")
    op.drop_table("batches")
    op.drop_table("products")
