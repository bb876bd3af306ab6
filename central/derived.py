"""What central derives from newly stored events, in the transaction that stores them.

The ingest calls :func:`on_events_stored` with the rows it has just inserted (resends
excluded, so nothing is derived twice). Deriving in the same transaction, rather than in
a follower that reads the events table after the fact, means a check outcome or a
containment is committed with its event or not at all, and needs no cursor: on
PostgreSQL a follower's cursor over a sequence can skip rows that several central
instances commit out of order.

The derivation runs inside a savepoint. Stored events are the record and must never be
lost to a fault in what is derived from them: should the derivation fail, the savepoint
is rolled back, the events stay, and a ``derivation_failed`` alarm names them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.alarms import raise_alarm
from linetrace.central.containers import record_packs
from linetrace.central.mismatches import judge_events

__all__ = ["DERIVATION_ALARM", "on_events_stored"]

log = logging.getLogger(__name__)

DERIVATION_ALARM = "derivation_failed"
# Event ids named in the alarm: enough to find the events, bounded for a large batch.
_ALARM_EVENT_IDS = 20


def on_events_stored(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Judge the newly stored events against their batches and build the containment."""
    if not rows:
        return
    try:
        with connection.begin_nested():
            judge_events(connection, rows)
            record_packs(connection, rows)
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise  # the database is gone: the caller retries the batch, events included
        _not_derived(connection, rows, exc)
    except Exception as exc:  # noqa: BLE001  (see below)
        # Deliberately broad: a fault in a derivation (a bug included) must not cost the
        # ingest its events or its writer thread. It is logged with its traceback and
        # raised as an alarm, so it is not silent.
        _not_derived(connection, rows, exc)


def _not_derived(
    connection: Connection, rows: Sequence[Mapping[str, Any]], exc: BaseException
) -> None:
    event_ids = [str(row["event_id"]) for row in rows[:_ALARM_EVENT_IDS]]
    log.error(
        "checks and containment of %s stored events were not derived (first: %s)",
        len(rows),
        ", ".join(event_ids),
        exc_info=exc,
    )
    raise_alarm(
        connection,
        station=None,
        kind=DERIVATION_ALARM,
        key=type(exc).__name__,
        severity="critical",
        message=f"checks and containment of {len(rows)} stored events were not derived: "
        f"{str(getattr(exc, 'orig', None) or exc).strip()[:300]}",
        details={"event_ids": event_ids},
    )
