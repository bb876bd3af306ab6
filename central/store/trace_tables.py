"""The tables of the traces: product master data, production batches, check outcomes,
the container hierarchy and the lot summaries, plus the events indexes the trace queries
need.

They live on the shared ``metadata`` so one migration history covers the whole schema.
Events are referenced by ``event_id`` without a foreign key: the events table is
append-only, and a retention purge of old events must not have to cascade through the
traces, which keep their own copy of what they show.

Codes in ``containment`` are the canonical GS1 keys of :mod:`linetrace.central.derive.codes`:
``(00)`` + SSCC for a logistic unit, ``(01)`` + GTIN + ``(21)`` + serial for an item.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, events, metadata

__all__ = [
    "CHECK_NAME_LIMIT",
    "CODE_KEY_LENGTH",
    "NO_GTIN",
    "batches",
    "containment",
    "event_checks",
    "locations",
    "lot_containers",
    "lot_station_summaries",
    "lot_summaries",
    "producer",
    "products",
    "vn_portal_records",
]

_BigId = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # SQLite rowid needs INTEGER

# "(01)" + 14 digits + "(21)" + a serial of at most 20 characters: the longest key.
CODE_KEY_LENGTH = 42
# The GTIN key of a lot summary whose reads carry no GTIN: key columns cannot be null.
NO_GTIN = ""
# Check names are short words (gtin, lot, check_digit); an edge may name its own, and a
# longer name is cut so that an odd edge cannot make its event's checks unstorable.
CHECK_NAME_LIMIT = 64

products = sa.Table(
    "products",
    metadata,
    sa.Column("gtin", sa.String(14), primary_key=True, comment="GTIN-14, check digit verified"),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("image_url", sa.Text()),
    sa.Column("producer_name", sa.Text()),
    sa.Column("producer_address", sa.Text()),
    sa.Column("producer_gln", sa.String(13), comment="GS1 GLN of the producer (AI 417)"),
    sa.Column("unit", sa.String(32), comment="unit of measure, e.g. box, bottle, KGM"),
    sa.Column("standards", sa.JSON(), nullable=False, comment="applied TCVN/QCVN/ISO standards"),
    sa.Column("description", sa.Text()),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("brand", sa.Text(), comment="brand or trademark (Circular 02/2024 element 8)"),
    sa.Column("model_code", sa.String(64), comment="model code / mark, if any (element 8)"),
)

# The organisation this central belongs to: the account on the national portal and the
# default producer of every product (a product's own producer_* columns override it for a
# trader's goods made elsewhere). One row: the CHECK keeps a second from appearing.
producer = sa.Table(
    "producer",
    metadata,
    sa.Column("id", sa.SmallInteger(), primary_key=True, autoincrement=False),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("address", sa.Text(), nullable=False),
    sa.Column("gln", sa.String(13), comment="GS1 GLN of the organisation (AI 417)"),
    sa.Column("tax_code", sa.String(14), comment="Vietnamese tax code (MST), 10 or 10-3 digits"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.CheckConstraint("id = 1", name="ck_producer_one_row"),
)

# Named places behind the GLNs the stations carry: the portal's location trace codes.
locations = sa.Table(
    "locations",
    metadata,
    sa.Column("gln", sa.String(13), primary_key=True, comment="GS1 GLN (AI 414), check verified"),
    sa.Column("name", sa.Text(), nullable=False),
    sa.Column("address", sa.Text(), nullable=False),
    sa.Column("kind", sa.String(32), nullable=False, comment="factory, warehouse, store, farm ..."),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)

# What the national portal (vn-portal adapter) holds of ours: one row per record it has
# created there (organisation, product, location, chain per batch, stage), with the
# portal's id, a fingerprint of what was sent (a change resends it) and when the portal
# confirmed it. A row with no portal_id is a create whose answer may have been lost: the
# adapter looks the record up by its reference before creating it again.
vn_portal_records = sa.Table(
    "vn_portal_records",
    metadata,
    sa.Column("target", sa.String(64), primary_key=True, comment="relay target name"),
    sa.Column("record_kind", sa.String(16), primary_key=True),
    sa.Column("record_key", sa.String(128), primary_key=True, comment="our key: GTIN, GLN ..."),
    sa.Column("portal_id", sa.Text(), comment="the portal's id; null until it answered"),
    sa.Column("fingerprint", sa.String(64), nullable=False, comment="sha-256 of what was sent"),
    sa.Column("created_at", UtcDateTime(), nullable=False),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("confirmed_at", UtcDateTime(), comment="null until confirmed"),
)

batches = sa.Table(
    "batches",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("line", sa.String(64), nullable=False),
    sa.Column(
        "gtin",
        sa.String(14),
        sa.ForeignKey(products.c.gtin, name="fk_batches_gtin_products"),
        nullable=False,
    ),
    sa.Column("lot", sa.String(20), nullable=False, comment="GS1 AI 10"),
    sa.Column("expiry", sa.Date(), comment="GS1 AI 17"),
    sa.Column("production_date", sa.Date(), comment="GS1 AI 11"),
    sa.Column("target_quantity", sa.Integer()),
    sa.Column("production_order", sa.String(64), comment="ERP production order id"),
    sa.Column("started_at", UtcDateTime(), nullable=False),
    sa.Column("closed_at", UtcDateTime(), comment="null while the batch is open"),
    # At most one open batch per line, enforced by the database: two operators (or two
    # central instances) starting a batch at once cannot both succeed.
    sa.Index(
        "uq_batches_open_line",
        "site",
        "line",
        unique=True,
        sqlite_where=sa.text("closed_at IS NULL"),
        postgresql_where=sa.text("closed_at IS NULL"),
    ),
    # The batch open on a line at a given time: the check of every stored read.
    sa.Index(None, "site", "line", "started_at"),
    sa.Index(None, "lot", "gtin"),
)

event_checks = sa.Table(
    "event_checks",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("event_id", sa.Uuid(), nullable=False),
    sa.Column("source", sa.String(8), nullable=False, comment="central or edge"),
    sa.Column("check", sa.String(CHECK_NAME_LIMIT), nullable=False),
    sa.Column("detail", sa.Text(), nullable=False),
    sa.Column(
        "batch_id",
        _BigId,
        sa.ForeignKey(batches.c.id, name="fk_event_checks_batch_id_batches"),
        comment="open at observed_at",
    ),
    # Copied from the event (which never changes) so that the lot and batch views need
    # no join back into the large events table.
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("line", sa.String(64), nullable=False),
    sa.Column("station", sa.String(64), nullable=False),
    sa.Column("observed_at", UtcDateTime(), nullable=False),
    sa.Column("gtin", sa.String(14)),
    sa.Column("lot", sa.String(20)),
    sa.Column("code", sa.Text(), comment="the event's decoded text, for display"),
    sa.UniqueConstraint("event_id", "source", "check"),
    sa.Index(None, "batch_id", "station"),
    sa.Index(None, "lot", "gtin"),
)

containment = sa.Table(
    "containment",
    metadata,
    sa.Column("id", _BigId, primary_key=True, autoincrement=True),
    sa.Column("parent_code", sa.String(CODE_KEY_LENGTH), nullable=False),
    sa.Column("child_code", sa.String(CODE_KEY_LENGTH), nullable=False),
    sa.Column("child_gtin", sa.String(14), comment="null for a child SSCC"),
    sa.Column("child_lot", sa.String(20), comment="the child's lot, when known"),
    sa.Column("packed_at", UtcDateTime(), nullable=False),
    sa.Column("packed_event_id", sa.Uuid(), nullable=False),
    sa.Column("site", sa.String(64), nullable=False),
    sa.Column("line", sa.String(64), nullable=False),
    sa.Column("station", sa.String(64), nullable=False),
    sa.Column("unpacked_at", UtcDateTime(), comment="null while the child is in this parent"),
    sa.Column("unpacked_event_id", sa.Uuid(), comment="the pack event that moved the child"),
    sa.Index(None, "child_code", "packed_at"),
    sa.Index(None, "parent_code", "packed_at"),
    # The lot export's packs of a lot's items (child GTIN and lot): a seek, not a scan.
    sa.Index(None, "child_gtin", "child_lot"),
)

# Kept at ingest time by linetrace.central.derive.lot_summaries, so that a lot trace reads
# one row per station and per container instead of every read and every stay of the lot's
# items. Every event with a lot touches its lot's row (which is also the lock that keeps
# concurrent writers' item counts exact).
lot_summaries = sa.Table(
    "lot_summaries",
    metadata,
    sa.Column("lot", sa.String(20), primary_key=True, comment="GS1 AI 10"),
    sa.Column("gtin", sa.String(14), primary_key=True, comment="'' when the events carry none"),
    sa.Column("item_count", sa.BigInteger(), nullable=False, comment="distinct serials read"),
)

lot_station_summaries = sa.Table(
    "lot_station_summaries",
    metadata,
    sa.Column("lot", sa.String(20), primary_key=True),
    sa.Column("gtin", sa.String(14), primary_key=True, comment="'' when the reads carry none"),
    sa.Column("site", sa.String(64), primary_key=True),
    sa.Column("line", sa.String(64), primary_key=True),
    sa.Column("station", sa.String(64), primary_key=True),
    sa.Column("reads", sa.BigInteger(), nullable=False),
    sa.Column("item_count", sa.BigInteger(), nullable=False, comment="distinct serials read here"),
    sa.Column("first_seen", UtcDateTime(), nullable=False),
    sa.Column("last_seen", UtcDateTime(), nullable=False),
)

lot_containers = sa.Table(
    "lot_containers",
    metadata,
    sa.Column("lot", sa.String(20), primary_key=True, comment="the children's lot"),
    sa.Column("gtin", sa.String(14), primary_key=True, comment="'' for children without one"),
    sa.Column("parent_code", sa.String(CODE_KEY_LENGTH), primary_key=True),
    sa.Column(
        "item_count", sa.BigInteger(), nullable=False, comment="distinct children packed (ever)"
    ),
)

# A lot's items in (GTIN, serial) order with the time of each read: a page of the lot
# trace's items is an index-only scan of no more than the page.
sa.Index(
    "ix_events_lot_items",
    events.c.lot,
    events.c.gtin,
    events.c.serial,
    events.c.kind,
    events.c.observed_at,
)
# No-reads carry no code, so the lot trace finds them by line and time; they are a small
# share of the events, and a partial index keeps the cost of indexing them as small.
sa.Index(
    "ix_events_noread_line",
    events.c.site,
    events.c.line,
    events.c.observed_at,
    events.c.station,
    sqlite_where=events.c.kind == "noread",
    postgresql_where=events.c.kind == "noread",
)
