"""Indexes for the auditors' searches, lot exports and the live pages.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05

A search filtered on a kind, a site, a line or a GTIN reads its first page in time order
straight from one of these, and counts its total (up to the cap) from it, instead of
sorting every match or walking the whole time index (see ``store/search_indexes.py``).
Written out in full rather than imported: a migration records the schema at this revision.
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (name, columns) of each index of the events table this revision adds.
_SEARCH_INDEXES = (
    ("ix_events_kind_observed_at", ["kind", "observed_at"]),
    ("ix_events_site_observed_at", ["site", "observed_at"]),
    ("ix_events_site_line_observed_at", ["site", "line", "observed_at"]),
    ("ix_events_gtin_observed_at", ["gtin", "observed_at"]),
    (
        "ix_events_kind_site_line_station_seq_event_id",
        ["kind", "site", "line", "station", "seq", "event_id"],
    ),
    ("ix_events_received_at", ["received_at"]),
)
_CHECK_INDEXES = (("ix_event_checks_observed_at", ["observed_at"]),)


def upgrade() -> None:
    for name, columns in _SEARCH_INDEXES:
        op.create_index(name, "events", columns)
    for name, columns in _CHECK_INDEXES:
        op.create_index(name, "event_checks", columns)


def downgrade() -> None:
    for name, _ in _CHECK_INDEXES:
        op.drop_index(name, table_name="event_checks")
    for name, _ in reversed(_SEARCH_INDEXES):
        op.drop_index(name, table_name="events")
