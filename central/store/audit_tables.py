"""The audit log's tables: the hash-chained records and the head of the chain.

``audit_log`` holds one row per human or token action, appended and never updated. Each
row carries the hash of the row before it (``prev_hash``) and its own ``hash`` over its
contents and ``prev_hash``, so changing, removing or inserting a row breaks the chain at
that row (``linetrace central audit verify``).

``audit_head`` is one row: the last id and hash appended. Appenders update it first, which
takes its row lock (PostgreSQL) or the database's write lock (SQLite), so appenders in
several processes queue up there and the chain never forks; and since the head remembers
the last record, removing the newest records is detected too.

Neither table is ever pruned by retention (see :mod:`linetrace.central.store.retention`):
the audit log is kept at least as long as the events it speaks about.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = [
    "AUDIT_ACTION_LENGTH",
    "AUDIT_ACTOR_LENGTH",
    "AUDIT_CHAIN",
    "AUDIT_GENESIS",
    "AUDIT_TARGET_LENGTH",
    "audit_head",
    "audit_log",
]

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

# An account or token name, or "cli:<os user>".
AUDIT_ACTOR_LENGTH = 128
# Dotted verbs such as "batch.start" or "relay.retry_all".
AUDIT_ACTION_LENGTH = 64
# What was acted on: "batch/12", "station/hcm1/L1/S1", "lot/08938500000018/L2611".
AUDIT_TARGET_LENGTH = 256
# The one chain's name in audit_head (room for more chains without a migration).
AUDIT_CHAIN = "audit"
# prev_hash of the first record: no record came before it.
AUDIT_GENESIS = "0" * 64

audit_log = sa.Table(
    "audit_log",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=False),
    sa.Column("at", UtcDateTime(), nullable=False, comment="when it was recorded (UTC)"),
    sa.Column("actor", sa.String(AUDIT_ACTOR_LENGTH), nullable=False),
    sa.Column("action", sa.String(AUDIT_ACTION_LENGTH), nullable=False),
    sa.Column("target", sa.String(AUDIT_TARGET_LENGTH), nullable=False),
    sa.Column("details", sa.JSON(), comment="what was asked or changed, as JSON"),
    sa.Column("prev_hash", sa.String(64), nullable=False, comment="the previous record's hash"),
    sa.Column("hash", sa.String(64), nullable=False, comment="SHA-256 of this record"),
    sa.Index(None, "at"),
    sa.Index(None, "actor", "at"),
    sa.Index(None, "action", "at"),
)

audit_head = sa.Table(
    "audit_head",
    metadata,
    sa.Column("chain", sa.String(16), primary_key=True),
    sa.Column("last_id", _BigId, nullable=False, comment="the newest record's id (0: none)"),
    sa.Column("last_hash", sa.String(64), nullable=False, comment="the newest record's hash"),
)
