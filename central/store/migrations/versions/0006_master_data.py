"""Master data the national portal needs: product brand and model code, the producer
(the organisation on the portal), named locations behind the stations' GLNs, and the
records the vn-portal relay target has created on the portal.

Revision ID: 0006
Revises: 0005
Create Date: 2025-01-06

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("products") as products:
        products.add_column(
            sa.Column("brand", sa.Text(), comment="brand or trademark (Circular 02/2024 element 8)")
        )
        products.add_column(
            sa.Column("model_code", sa.String(64), comment="model code / mark, if any (element 8)")
        )

    op.create_table(
        "producer",
        sa.Column("id", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column("gln", sa.String(13), comment="GS1 GLN of the organisation (AI 417)"),
        sa.Column(
            "tax_code", sa.String(14), comment="Vietnamese tax code (MST), 10 or 10-3 digits"
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_producer"),
        sa.CheckConstraint("id = 1", name="ck_producer_one_row"),
    )

    op.create_table(
        "locations",
        sa.Column("gln", sa.String(13), nullable=False, comment="GS1 GLN (AI 414), check verified"),
        sa.Column("name", sa.Text(), nullable=False),
        sa.Column("address", sa.Text(), nullable=False),
        sa.Column(
            "kind", sa.String(32), nullable=False, comment="factory, warehouse, store, farm ..."
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("gln", name="pk_locations"),
    )

    op.create_table(
        "vn_portal_records",
        sa.Column("target", sa.String(64), nullable=False, comment="relay target name"),
        sa.Column("record_kind", sa.String(16), nullable=False),
        sa.Column("record_key", sa.String(128), nullable=False, comment="our key: GTIN, GLN ..."),
        sa.Column("portal_id", sa.Text(), comment="the portal's id; null until it answered"),
        sa.Column("fingerprint", sa.String(64), nullable=False, comment="sha-256 of what was sent"),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("confirmed_at", sa.DateTime(timezone=True), comment="null until confirmed"),
        sa.PrimaryKeyConstraint("target", "record_kind", "record_key", name="pk_vn_portal_records"),
    )


def downgrade() -> None:
    op.drop_table("vn_portal_records")
    op.drop_table("locations")
    op.drop_table("producer")
    with op.batch_alter_table("products") as products:
        products.drop_column("model_code")
        products.drop_column("brand")
