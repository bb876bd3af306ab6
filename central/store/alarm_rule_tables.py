"""The tables of the alarm thresholds: one row of rules per scope (the site-wide default,
or one station), written by an admin and read by the alarm sweep.

The rules are one JSON object per row rather than a column per threshold: a rule added
later (a new kind of alarm) needs no migration, and a station row names only the
thresholds it overrides (a key left out inherits the default; ``null`` turns it off).
The comment an acknowledging person writes is a column of ``alarms``
(:mod:`linetrace.central.store.tables`).
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import UtcDateTime, metadata

__all__ = ["DEFAULT_SCOPE", "alarm_rules"]

# The scope of the site-wide default row; a station's scope is its SITE/LINE/STATION,
# which never is "*" (topic-safe characters only).
DEFAULT_SCOPE = "*"

alarm_rules = sa.Table(
    "alarm_rules",
    metadata,
    sa.Column("scope", sa.String(200), primary_key=True, comment="* or SITE/LINE/STATION"),
    sa.Column("rules", sa.JSON(), nullable=False, comment="threshold name -> value or null"),
    sa.Column("updated_at", UtcDateTime(), nullable=False),
    sa.Column("updated_by", sa.String(128), nullable=False, comment="who set them"),
)
