"""The tables central writes: append-only scan events, dead letters, and the ingest's
bookkeeping (stations, seq progress, alarms, conflicts).

The events table keeps the contract's fields as columns for the queries, the GS1 keys
pulled out of ``gs1`` for search and traces, and the whole payload as sent, so a field
added by a newer minor schema version is kept even before a column exists for it.

``observed_at`` is stored as UTC plus the station's UTC offset: SQLite has no time-zone
type, and the offset is part of the record (the API hands the time back as the station
wrote it, e.g. ``+07:00``).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Dialect

__all__ = [
    "DEAD_LETTER_PAYLOAD_LIMIT",
    "REASON_LIMIT",
    "UtcDateTime",
    "alarms",
    "conflicts",
    "dead_letters",
    "events",
    "metadata",
    "station_minutes",
    "station_progress",
    "station_status",
    "stations",
]

# The contract refuses events over 64 KiB, so keeping that much of a dead letter keeps
# every refused event whole, while a flood of huge junk cannot fill the disk.
DEAD_LETTER_PAYLOAD_LIMIT = 64 * 1024
# Reasons are one or a few lines written by us; the cap only guards against an error
# message that quotes a large input back.
REASON_LIMIT = 2000

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = sa.MetaData(naming_convention=NAMING)


class UtcDateTime(sa.types.TypeDecorator[datetime]):
    """An aware datetime stored as UTC, read back as UTC on every backend.

    PostgreSQL keeps ``timestamptz``; SQLite keeps naive ISO text, which sorts
    correctly only if every value is in the same zone, hence UTC everywhere.
    """

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError(f"naive datetime {value!r}: store aware times only")
        utc = value.astimezone(UTC)
        return utc.replace(tzinfo=None) if dialect.name == "sqlite" else utc

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value)}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

events = sa.Table(
    "events",
    metadata,
    sa.Column("event_id", sa.Uuid(), primary_key=True, comment="UUIDv7 from the edge"),
    sa.Column("schema_version", sa.Text(), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("line", sa.String(64), nullable=False),
    sa.Column("station", sa.String(64), nullable=False),
    sa.Column("seq", sa.BigInteger(), nullable=False),
    sa.Column("kind", sa.String(16), nullable=False),
    sa.Column("observed_at", UtcDateTime(), nullable=False, comment="UTC"),
    sa.Column("utc_offset_s", sa.Integer(), nullable=False, comment="station's UTC offset"),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("symbology", sa.Text()),
    sa.Column("symbology_id", sa.String(3)),
    sa.Column("text", sa.Text()),
    sa.Column("gtin", sa.String(14), comment="GS1 AI 01"),
    sa.Column("serial", sa.String(20), comment="GS1 AI 21"),
    sa.Column("lot", sa.String(20), comment="GS1 AI 10"),
    sa.Column("sscc", sa.String(18), comment="GS1 AI 00"),
    sa.Column("expiry", sa.String(6), comment="GS1 AI 17, YYMMDD"),
    sa.Column("frames", sa.Integer(), nullable=False),
    sa.Column("payload", sa.JSON(), nullable=False, comment="the event as sent"),
    sa.Index(None, "site", "line", "station", "observed_at"),
    sa.Index(None, "observed_at", "event_id"),
    sa.Index(None, "gtin", "serial"),
    # Serial alone too: the API's code search matches a serial without its GTIN, and an
    # OR of conditions uses indexes only when every branch has one.
    sa.Index(None, "serial"),
    sa.Index(None, "sscc"),
    sa.Index(None, "lot"),
    # A hash index on PostgreSQL: equality is all the API asks of the raw text, and a
    # B-tree entry is limited to about 2.7 kB while the contract allows 4096 characters.
    sa.Index(None, "text", postgresql_using="hash"),
    # The seq progress walks a station's seqs above its watermark in order.
    sa.Index(None, "site", "line", "station", "seq"),
)

dead_letters = sa.Table(
    "dead_letters",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("topic", sa.Text(), nullable=False),
    sa.Column("reason", sa.Text(), nullable=False),
    sa.Column("payload", sa.LargeBinary(), nullable=False, comment="first bytes only"),
    sa.Column("payload_size", sa.Integer(), nullable=False, comment="original size in bytes"),
    sa.Column("replayed_at", UtcDateTime(), comment="when a replay stored it (or found it stored)"),
    sa.Index(None, "received_at"),
)

stations = sa.Table(
    "stations",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("line", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("gln", sa.String(13), comment="GS1 GLN of the station's location"),
    sa.Column("role", sa.String(32), comment="what the station does, e.g. pack, palletise"),
    sa.Column("registered_at", UtcDateTime(), nullable=False),
    sa.Column("registered_by", sa.String(64), nullable=False, comment="cli, api or auto"),
    sa.Column("enabled", sa.Boolean(), nullable=False),
)

station_progress = sa.Table(
    "station_progress",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("line", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("watermark", sa.BigInteger(), nullable=False, comment="highest contiguous seq"),
    sa.Column("max_seq_seen", sa.BigInteger(), nullable=False),
    sa.Column(
        "behind_since",
        UtcDateTime(),
        comment="since when a seq above the watermark waits for a missing one",
    ),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

station_status = sa.Table(
    "station_status",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("line", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("state", sa.String(16), nullable=False, comment="online, degraded or offline"),
    sa.Column("at", UtcDateTime(), nullable=False, comment="station's time of its latest status"),
    sa.Column("received_at", UtcDateTime(), nullable=False, comment="when central took it"),
    sa.Column(
        "metrics",
        sa.JSON(),
        nullable=False,
        comment="the last figures reported (a last will carries none and keeps them)",
    ),
)

# Kept by the ingest (linetrace.central.derive.station_minutes) in the transaction that
# stores the events, so the dashboard reads its hour figures and per-minute trend from at
# most 60 rows per station instead of counting an hour of events on every refresh (3.6 M
# at 50 stations x 20 events/s). Rows older than two days are pruned.
station_minutes = sa.Table(
    "station_minutes",
    metadata,
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("line", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("minute", UtcDateTime(), primary_key=True, comment="UTC minute of observed_at"),
    sa.Column("reads", sa.BigInteger(), nullable=False),
    sa.Column("noreads", sa.BigInteger(), nullable=False),
    # The dashboard's range read over every station, and the pruning of old minutes.
    sa.Index(None, "minute"),
)

alarms = sa.Table(
    "alarms",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("raised_at", UtcDateTime(), nullable=False),
    sa.Column("station", sa.String(200), comment="SITE/LINE/STATION, or null"),
    sa.Column("kind", sa.String(64), nullable=False),
    sa.Column("key", sa.String(200), nullable=False),
    sa.Column("severity", sa.String(16), nullable=False),
    sa.Column("message", sa.Text(), nullable=False),
    sa.Column("details", sa.JSON()),
    sa.Column("cleared_at", UtcDateTime()),
    sa.Column("acknowledged_by", sa.String(128)),
    sa.Column("acknowledged_at", UtcDateTime()),
    sa.Column("acknowledged_comment", sa.Text(), comment="what the acknowledging person wrote"),
    # Unique while the alarm is open; both backends allow any number of NULLs, so cleared
    # alarms keep their history while a new one with the same key may be raised.
    sa.Column(
        "open_key",
        sa.String(500),
        unique=True,
        comment="station|kind|key while open, null once cleared",
    ),
    sa.Index(None, "raised_at"),
)

conflicts = sa.Table(
    "conflicts",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("station", sa.String(200), nullable=False),
    sa.Column("received_at", UtcDateTime(), nullable=False),
    sa.Column("first_sha256", sa.String(64), nullable=False),
    sa.Column("second_sha256", sa.String(64), nullable=False),
    sa.Column("second_payload", sa.JSON(), nullable=False),
    # One row per distinct second version: an edge resending it until acknowledged adds none.
    sa.UniqueConstraint("event_id", "second_sha256"),
)
