"""What central derives from newly stored events, in the transaction that stores them.

The ingest calls :func:`on_events_stored` with the rows it has just inserted (resends
excluded, so nothing is derived twice). Deriving in the same transaction, rather than in
a follower that reads the events table after the fact, means a check outcome, a
containment or a lot summary is committed with its event or not at all, and needs no
cursor: on PostgreSQL a follower's cursor over a sequence can skip rows that several
central instances commit out of order.

The derivation runs inside a savepoint. Stored events are the record and must never be
lost to a fault in what is derived from them: should the derivation fail, the savepoint
is rolled back, the events stay, and a ``derivation_failed`` alarm names them and the
lots whose summaries to rebuild (``linetrace central lot-summaries rebuild``) once the
fault is fixed (the dashboard's minute counts are short of those events too, until
``linetrace central dashboard-counts rebuild``). The same fault again while that alarm
is open updates it: it keeps the first events it named and gathers every lot left
short. A lost race with another central instance (a deadlock) is not such a fault: it is
raised, so the caller writes the whole batch again.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Mapping, Sequence
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.alarms import find_open_alarm, raise_alarm, update_alarm
from linetrace.central.derive.containers import record_packs
from linetrace.central.derive.lot_summaries import record_lot_summaries
from linetrace.central.derive.mismatches import judge_events
from linetrace.central.derive.station_minutes import count_minutes

__all__ = ["DERIVATION_ALARM", "REBUILD_COMMAND", "on_events_stored"]

log = logging.getLogger(__name__)

DERIVATION_ALARM = "derivation_failed"
# What the alarm tells the operator to run once the fault is fixed (lots follow).
REBUILD_COMMAND = "linetrace central lot-summaries rebuild"
# Event ids named in the alarm: enough to find the events, bounded for a large batch.
_ALARM_EVENT_IDS = 20
# Lots named in the alarm's command: a batch spans a few lots; past this, rebuild them all.
_ALARM_LOTS = 20
# PostgreSQL's deadlock_detected and serialization_failure: another transaction won a
# race, and the whole batch succeeds when written again (the ingest retries it).
_TRANSIENT_SQLSTATES = {"40P01", "40001"}


def on_events_stored(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
    """Count the newly stored events in their stations' minutes (the dashboard's), judge
    them against their batches, build the containment, and add the events to their lots'
    summaries (after the packs, which the counts need)."""
    if not rows:
        return
    try:
        with connection.begin_nested():
            count_minutes(connection, rows)
            judge_events(connection, rows)
            record_packs(connection, rows)
            record_lot_summaries(connection, rows)
    except sa.exc.DBAPIError as exc:
        if exc.connection_invalidated:
            raise  # the database is gone: the caller retries the batch, events included
        if getattr(exc.orig, "sqlstate", None) in _TRANSIENT_SQLSTATES:
            raise  # a lost race: the caller writes the batch again
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
    lots = _lots(rows)
    log.error(
        "checks, containment and lot summaries of %s stored events were not derived (first: %s)%s",
        len(rows),
        ", ".join(event_ids),
        _rebuild_hint(lots),
        exc_info=exc,
    )
    key = type(exc).__name__
    reason = str(getattr(exc, "orig", None) or exc).strip()[:300]
    found = find_open_alarm(connection, station=None, kind=DERIVATION_ALARM, key=key)
    if found is None:
        raise_alarm(
            connection,
            station=None,
            kind=DERIVATION_ALARM,
            key=key,
            severity="critical",
            message=f"checks, containment and lot summaries of {len(rows)} stored events "
            f"were not derived: {reason}" + _rebuild_hint(lots),
            details={"event_ids": event_ids, "lots": lots, "events": len(rows)},
        )
        return
    # The same fault again while its alarm is open: one alarm, which keeps the first
    # events it named and gathers every lot left short, so its rebuild command covers all.
    before = found.details or {}
    gathered = sorted({*before.get("lots", []), *lots})
    total = int(before.get("events", 0)) + len(rows)
    update_alarm(
        connection,
        found.id,
        message=f"checks, containment and lot summaries of {total} stored events were not "
        f"derived: {reason}" + _rebuild_hint(gathered),
        details={**before, "lots": gathered[: _ALARM_LOTS + 1], "events": total},
    )


def _lots(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The lots of these events, whose summaries are short of them (bounded for the alarm).

    Only the events' own lots are: the containment was rolled back with the summaries, so
    the container counts still agree with it. One lot past the bound is kept, so that the
    hint can tell that there are too many to name.
    """
    return sorted({row["lot"] for row in rows if row["lot"] is not None})[: _ALARM_LOTS + 1]


def _rebuild_hint(lots: Sequence[str]) -> str:
    """How to bring the summaries of ``lots`` up to date once the fault is fixed."""
    if not lots:
        return ""
    if len(lots) > _ALARM_LOTS:
        return f"; once fixed, run: {REBUILD_COMMAND} --all"
    return f"; once fixed, run: {REBUILD_COMMAND} {' '.join(shlex.quote(lot) for lot in lots)}"
