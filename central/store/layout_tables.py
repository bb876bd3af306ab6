"""Saved dashboard layouts: which sites, lines and stations a person shows, and how.

One row per person and layout name. The layout itself is a small JSON document checked
by the API (:mod:`linetrace.central.api.dashboard`) before it is written, so the page can
add a setting without a migration; the person's name is the account name, so a layout
follows them to any screen.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = ["LAYOUT_NAME_LENGTH", "LAYOUT_USER_LENGTH", "dashboard_layouts"]

# An account or token name, as in the audit log.
LAYOUT_USER_LENGTH = 128
# A label a person types: "Night shift", "Line 1 and 2".
LAYOUT_NAME_LENGTH = 64

dashboard_layouts = sa.Table(
    "dashboard_layouts",
    metadata,
    sa.Column("user_name", sa.String(LAYOUT_USER_LENGTH), primary_key=True),
    sa.Column("name", sa.String(LAYOUT_NAME_LENGTH), primary_key=True),
    sa.Column("layout", sa.JSON(), nullable=False, comment="shown groups, order, density"),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
)
