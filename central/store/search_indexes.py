"""The events table's indexes for the auditors' search and the live pages (migration 0012).

A search filters on one or two columns and wants its first page in time order; without
an index that starts with the filter and goes on with ``observed_at``, a database either
walks the whole time index testing each row (slow when the filter is rare) or fetches
every match and sorts it (slow when it is common, e.g. a whole site or product). The
existing ``(site, line, station, observed_at)`` and ``(site, line, station, seq)`` serve a
station; these serve the filters above and beside it.
"""

from __future__ import annotations

import sqlalchemy as sa

from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import event_checks

__all__ = ["CHECK_INDEXES", "SEARCH_INDEXES"]

SEARCH_INDEXES = (
    sa.Index(None, events.c.kind, events.c.observed_at),
    sa.Index(None, events.c.site, events.c.observed_at),
    sa.Index(None, events.c.site, events.c.line, events.c.observed_at),
    sa.Index(None, events.c.gtin, events.c.observed_at),
    # A kind in seq order (pack events station by station): read in order from here, where
    # the seq index alone would be walked through every station without that kind first.
    sa.Index(
        None,
        events.c.kind,
        events.c.site,
        events.c.line,
        events.c.station,
        events.c.seq,
        events.c.event_id,
    ),
    # The live stream's tail (query/live_tail.py) follows received_at, whichever replica
    # stored the event: a look reads the last seconds from here, not the table.
    sa.Index(None, events.c.received_at),
)
# The dashboard's mismatches of the last hour, per station.
CHECK_INDEXES = (sa.Index(None, event_checks.c.observed_at),)
