"""Central's storage: tables, migrations, idempotent writes and the event queries.

SQLAlchemy Core throughout: the ingest inserts thousands of rows a second and the
queries are few and explicit, so an ORM would add cost without saving code.
"""

from linetrace.central.store.engine import open_engine, redacted
from linetrace.central.store.gs1keys import Gs1Keys, extract_keys
from linetrace.central.store.migrate import current_revision, head_revision, upgrade
from linetrace.central.store.queries import (
    MAX_PAGE_SIZE,
    Cursor,
    CursorError,
    DeadLetterPage,
    EventPage,
    EventQuery,
    StoredDeadLetter,
    StoredEvent,
    find_dead_letters,
    find_events,
)
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
    "MAX_PAGE_SIZE",
    "Cursor",
    "CursorError",
    "DeadLetter",
    "DeadLetterPage",
    "EventPage",
    "EventQuery",
    "Gs1Keys",
    "StoredDeadLetter",
    "StoredEvent",
    "alarms",
    "conflicts",
    "current_revision",
    "dead_letters",
    "event_row",
    "events",
    "extract_keys",
    "find_dead_letters",
    "find_events",
    "head_revision",
    "insert_dead_letters",
    "insert_events",
    "metadata",
    "open_engine",
    "redacted",
    "station_progress",
    "stations",
    "upgrade",
]
