"""The relay's tables: the durable per-target queue, the ledger of what each target
accepted, and each target's health.

``relay_queue`` holds one row per (target, stored event, action): ``capture`` for the
event itself, ``retract`` for an ErrorDeclaration that withdraws it. Rows are written in
the ingest's transaction (capture) or by the retract verb, and only ever updated after:
``queued`` -> (claimed) -> ``sent`` -> ``accepted`` or ``rejected``. A row in ``sent``
whose claim has lapsed is in doubt (the answer was lost): the relay asks the target or
its ledger before sending it again. ``lot``/``gtin`` are copied from the event (which
never changes) so the per-lot status needs no join into the large events table.

``relay_ledger`` records every eventID a target accepted, per action: the relay checks it
before it sends, so a resend after a lost answer is never captured twice, whatever the
target does with duplicates.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = [
    "EPCIS_EVENT_ID_LENGTH",
    "RELAY_ACTIONS",
    "RELAY_STATES",
    "relay_ledger",
    "relay_queue",
    "relay_target_health",
]

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

RELAY_STATES = ("queued", "sent", "accepted", "rejected")
RELAY_ACTIONS = ("capture", "retract")
# "ni:///sha-256;" + 64 hex digits + "?ver=CBV2.0" is 89 characters; room for another
# scheme (a UUID URN, a longer hash) without a migration.
EPCIS_EVENT_ID_LENGTH = 160

relay_queue = sa.Table(
    "relay_queue",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("target", sa.String(64), nullable=False, comment="relay target name"),
    sa.Column("event_id", sa.Uuid(), nullable=False, comment="the stored event"),
    sa.Column("action", sa.String(8), nullable=False, comment="capture or retract"),
    sa.Column("lot", sa.String(20), comment="the event's lot (GS1 AI 10)"),
    sa.Column("gtin", sa.String(14), comment="the event's GTIN (GS1 AI 01)"),
    sa.Column("state", sa.String(8), nullable=False, comment="queued, sent, accepted, rejected"),
    sa.Column("attempts", sa.Integer(), nullable=False, comment="sends that failed"),
    sa.Column("next_attempt_at", UtcDateTime(), nullable=False),
    sa.Column("claimed_by", sa.String(128), comment="the relay worker holding the row"),
    sa.Column("claimed_until", UtcDateTime(), comment="the claim's lease; lapses if it dies"),
    sa.Column("epcis_event_id", sa.String(EPCIS_EVENT_ID_LENGTH), comment="set when mapped"),
    sa.Column("reason", sa.Text(), comment="the target's reason, or the last transient error"),
    sa.Column("declaration", sa.JSON(), comment="retract: reason and declaration time"),
    sa.Column("queued_at", UtcDateTime(), nullable=False),
    sa.Column("sent_at", UtcDateTime(), comment="last time it was sent"),
    sa.Column("done_at", UtcDateTime(), comment="when accepted or rejected"),
    # Event first: it also serves the look-ups by event (a retraction, a trace's status),
    # so the ingest maintains one index less per queued row.
    sa.UniqueConstraint("event_id", "target", "action"),
    # The claim: a target's due rows in queue order. Finished rows are most of the table
    # and never claimed again; the partial index leaves them out.
    sa.Index(
        "ix_relay_queue_due",
        "target",
        "next_attempt_at",
        "id",
        sqlite_where=sa.text("state IN ('queued', 'sent')"),
        postgresql_where=sa.text("state IN ('queued', 'sent')"),
    ),
    sa.Index(None, "target", "lot", "gtin", "state"),
)

relay_ledger = sa.Table(
    "relay_ledger",
    metadata,
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("epcis_event_id", sa.String(EPCIS_EVENT_ID_LENGTH), primary_key=True),
    sa.Column("action", sa.String(8), primary_key=True, comment="capture or retract"),
    sa.Column("event_id", sa.Uuid(), nullable=False, comment="the stored event it came from"),
    sa.Column("accepted_at", UtcDateTime(), nullable=False),
)

# Written by the relay worker (whichever instance runs it) and read by the status: the API
# process does not run the worker, so a target's health lives in the database.
relay_target_health = sa.Table(
    "relay_target_health",
    metadata,
    sa.Column("target", sa.String(64), primary_key=True),
    sa.Column("breaker", sa.String(12), nullable=False, comment="closed, open, half-open"),
    sa.Column("consecutive_failures", sa.Integer(), nullable=False),
    sa.Column("last_error", sa.Text()),
    sa.Column("last_error_at", UtcDateTime()),
    sa.Column("last_success_at", UtcDateTime()),
    sa.Column("details", sa.JSON(), comment="the adapter's own health (limits, token ...)"),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
