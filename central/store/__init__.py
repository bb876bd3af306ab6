"""Central's storage: the tables, their migrations, the engine and the idempotent writes.

In: rows to insert (events, dead letters) from the ingest and the derivations, and a
database URL. Out: the table definitions every other package reads and writes through,
an engine configured for SQLite or PostgreSQL, and the schema brought to the newest
revision (:mod:`.migrate`, over :mod:`.migrations`). The only package that defines a
table or writes DDL; reading back is :mod:`linetrace.central.query`'s.

SQLAlchemy Core throughout: the ingest inserts thousands of rows a second and the
queries are few and explicit, so an ORM would add cost without saving code.
"""

from linetrace.central.store import (
    alarm_rule_tables,  # noqa: F401  (its tables join metadata)
    audit_tables,  # noqa: F401  (its tables join metadata)
    auth_tables,  # noqa: F401  (its tables join metadata)
    layout_tables,  # noqa: F401  (its tables join metadata)
    relay_tables,  # noqa: F401  (its tables join metadata)
    search_indexes,  # noqa: F401  (indexes join events)
)
from linetrace.central.store.engine import open_engine, redacted
from linetrace.central.store.gs1keys import Gs1Keys, extract_keys
from linetrace.central.store.image_tables import noread_images
from linetrace.central.store.migrate import current_revision, head_revision, upgrade
from linetrace.central.store.tables import (
    alarms,
    conflicts,
    dead_letters,
    events,
    metadata,
    station_progress,
    stations,
)
from linetrace.central.store.writes import (
    DeadLetter,
    event_row,
    insert_dead_letters,
    insert_events,
)

__all__ = [
    "DeadLetter",
    "Gs1Keys",
    "alarms",
    "conflicts",
    "current_revision",
    "dead_letters",
    "event_row",
    "events",
    "extract_keys",
    "head_revision",
    "insert_dead_letters",
    "insert_events",
    "metadata",
    "noread_images",
    "open_engine",
    "redacted",
    "station_progress",
    "stations",
    "upgrade",
]
