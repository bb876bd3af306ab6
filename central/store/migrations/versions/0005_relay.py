"""The relay: its per-target queue, the ledger of accepted eventIDs, the targets' health.

Revision ID: 0005
Revises: 0004
Create Date: 2025-01-05

Written out in full rather than imported from the tables module: a migration is a
record of what the schema was at this revision and must not change when the module does.
Events stored before this revision are not queued: the relay starts with what arrives
after it (an operator who wants the history sent queues it deliberately).
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
_TIME = sa.DateTime(timezone=True)
_DUE = sa.text("state IN ('queued', 'sent')")


def upgrade() -> None:
    op.create_table(
        "relay_queue",
        sa.Column("id", _BigId, autoincrement=True, nullable=False),
        sa.Column("target", sa.String(64), nullable=False, comment="relay target name"),
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="the stored event"),
        sa.Column("action", sa.String(8), nullable=False, comment="capture or retract"),
        sa.Column("lot", sa.String(20), comment="the event's lot (GS1 AI 10)"),
        sa.Column("gtin", sa.String(14), comment="the event's GTIN (GS1 AI 01)"),
        sa.Column(
            "state", sa.String(8), nullable=False, comment="queued, sent, accepted, rejected"
        ),
        sa.Column("attempts", sa.Integer(), nullable=False, comment="sends that failed"),
        sa.Column("next_attempt_at", _TIME, nullable=False),
        sa.Column("claimed_by", sa.String(128), comment="the relay worker holding the row"),
        sa.Column("claimed_until", _TIME, comment="the claim's lease; lapses if it dies"),
        sa.Column("epcis_event_id", sa.String(160), comment="set when mapped"),
        sa.Column("reason", sa.Text(), comment="the target's reason, or the last transient error"),
        sa.Column("declaration", sa.JSON(), comment="retract: reason and declaration time"),
        sa.Column("queued_at", _TIME, nullable=False),
        sa.Column("sent_at", _TIME, comment="last time it was sent"),
        sa.Column("done_at", _TIME, comment="when accepted or rejected"),
        sa.PrimaryKeyConstraint("id", name="pk_relay_queue"),
        sa.UniqueConstraint(
            "event_id", "target", "action", name="uq_relay_queue_event_id_target_action"
        ),
    )
    op.create_index(
        "ix_relay_queue_due",
        "relay_queue",
        ["target", "next_attempt_at", "id"],
        sqlite_where=_DUE,
        postgresql_where=_DUE,
    )
    op.create_index(
        "ix_relay_queue_target_lot_gtin_state", "relay_queue", ["target", "lot", "gtin", "state"]
    )

    op.create_table(
        "relay_ledger",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("epcis_event_id", sa.String(160), nullable=False),
        sa.Column("action", sa.String(8), nullable=False, comment="capture or retract"),
        sa.Column("event_id", sa.Uuid(), nullable=False, comment="the stored event it came from"),
        sa.Column("accepted_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("target", "epcis_event_id", "action", name="pk_relay_ledger"),
    )

    op.create_table(
        "relay_target_health",
        sa.Column("target", sa.String(64), nullable=False),
        sa.Column("breaker", sa.String(12), nullable=False, comment="closed, open, half-open"),
        sa.Column("consecutive_failures", sa.Integer(), nullable=False),
        sa.Column("last_error", sa.Text()),
        sa.Column("last_error_at", _TIME),
        sa.Column("last_success_at", _TIME),
        sa.Column("details", sa.JSON(), comment="the adapter's own health (limits, token ...)"),
        sa.Column("updated_at", _TIME, nullable=False),
        sa.PrimaryKeyConstraint("target", name="pk_relay_target_health"),
    )


def downgrade() -> None:
    op.drop_table("relay_target_health")
    op.drop_table("relay_ledger")
    op.drop_index("ix_relay_queue_target_lot_gtin_state", table_name="relay_queue")
    op.drop_index("ix_relay_queue_due", table_name="relay_queue")
    op.drop_table("relay_queue")
