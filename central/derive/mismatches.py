"""Judging newly stored events: central's own batch checks, and the edge's failed checks.

Central checks each read that carries a GTIN against the batch open on its line at the
read's ``observed_at``: the GTIN and, when the code carries them, the lot and expiry must
be the batch's, and the item must not be expired on the day it was seen (station-local
date). This runs whatever the edge decided, because the edge may have had no batch (its
retained announcement not yet received) or may be misconfigured. Failed checks the edge
reports in the event's ``checks`` (of any kind of event) are recorded beside central's,
marked ``edge``.

A read without a GTIN (a logistic label, a code that is not GS1) is not judged against
the batch; a read on a line with no open batch is not judged either. A missing lot or
expiry is not a mismatch (a plain EAN-13 carries neither); a different one is. Each
failure becomes an ``event_checks`` row naming the batch open at the time, if any;
central's failures also raise one ``batch_mismatch`` alarm per station, batch and check,
which stays open (not repeated) until the batch is closed.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any
from uuid import UUID

from biip import ParseError
from biip.gs1_element_strings import GS1ElementString
from sqlalchemy.engine import Connection

from linetrace.central.derive.alarms import raise_alarm
from linetrace.central.derive.production_batches import (
    MISMATCH_ALARM,
    Batch,
    batches_overlapping,
    mismatch_alarm_key,
)
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import REASON_LIMIT
from linetrace.central.store.trace_tables import CHECK_NAME_LIMIT, event_checks

__all__ = [
    "CENTRAL",
    "EDGE",
    "CheckFailure",
    "batch_failures",
    "gs1_date",
    "insert_failures",
    "judge_events",
]

log = logging.getLogger(__name__)

CENTRAL = "central"
EDGE = "edge"


@dataclass(frozen=True, slots=True)
class CheckFailure:
    """One failed check of one stored event."""

    row: Mapping[str, Any]  # the event's row, as stored
    source: str
    check: str
    detail: str
    batch_id: int | None = None


def judge_events(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> int:
    """Record the failed checks of newly stored events and raise the alarms; return how many."""
    edge = {row["event_id"]: _edge_failures(row) for row in rows}
    judged = [row for row in rows if edge[row["event_id"]] or _judged_by_central(row)]
    if not judged:
        return 0
    batch_of = _batches_at(connection, judged)
    failures: list[CheckFailure] = []
    for row in judged:
        batch = batch_of.get(row["event_id"])
        batch_id = batch.id if batch is not None else None
        failures += [
            CheckFailure(row, EDGE, name, detail, batch_id)
            for name, detail in edge[row["event_id"]]
        ]
        if batch is not None and _judged_by_central(row):
            failures += [
                CheckFailure(row, CENTRAL, check, detail, batch.id)
                for check, detail in batch_failures(row, batch)
            ]
    insert_failures(connection, failures)
    _raise_alarms(connection, [f for f in failures if f.source == CENTRAL])
    return len(failures)


def batch_failures(row: Mapping[str, Any], batch: Batch) -> list[tuple[str, str]]:
    """``(check, detail)`` for each way the read ``row`` does not fit ``batch``."""
    failures: list[tuple[str, str]] = []
    if row["gtin"] != batch.gtin:
        failures.append(("gtin", f"GTIN {row['gtin']} is not the batch's {batch.gtin}"))
    if row["lot"] is not None and row["lot"] != batch.lot:
        failures.append(("lot", f"lot {row['lot']} is not the batch's {batch.lot}"))
    printed = gs1_date(row["expiry"]) if row["expiry"] is not None else None
    if printed is not None and batch.expiry is not None and printed != batch.expiry:
        failures.append(("expiry", f"expiry {printed} is not the batch's {batch.expiry}"))
    expiry = printed or batch.expiry
    seen_on = row["observed_at"].date()  # the station's own date: its offset is kept
    if expiry is not None and expiry < seen_on:
        failures.append(("expired", f"expired on {expiry}, seen on {seen_on}"))
    return failures


def gs1_date(yymmdd: str) -> date | None:
    """A GS1 date (YYMMDD; day 00 is the month's last day), or None if it names no day.

    biip applies the GS1 General Specifications' century rule and the day-00 rule.
    """
    try:
        return GS1ElementString.parse("17" + yymmdd).date
    except ParseError:
        return None


def insert_failures(connection: Connection, failures: Iterable[CheckFailure]) -> None:
    """Store ``failures``; a check already recorded for the event is kept as it was."""
    rows = [_check_row(failure) for failure in failures]
    if rows:
        statement = dialect_insert(connection, event_checks).on_conflict_do_nothing(
            index_elements=["event_id", "source", "check"]
        )
        connection.execute(statement, rows)


def _judged_by_central(row: Mapping[str, Any]) -> bool:
    return bool(row["kind"] == "read" and row["gtin"] is not None)


def _edge_failures(row: Mapping[str, Any]) -> list[tuple[str, str]]:
    checks = row["payload"].get("checks") or {}
    return [
        (name, result.get("detail") or "failed at the edge")
        for name, result in checks.items()
        if isinstance(result, dict) and result.get("passed") is False
    ]


def _batches_at(connection: Connection, rows: Sequence[Mapping[str, Any]]) -> dict[UUID, Batch]:
    """The batch open on each event's line when it was seen, by event_id (if there was one)."""
    times = [row["observed_at"] for row in rows]
    lines = {(row["site"], row["line"]) for row in rows}
    by_line: dict[tuple[str, str], list[Batch]] = {}
    for batch in batches_overlapping(connection, lines, min(times), max(times)):
        by_line.setdefault(batch.site_line, []).append(batch)
    found: dict[UUID, Batch] = {}
    for row in rows:
        candidates = by_line.get((row["site"], row["line"]), [])
        covering = next((b for b in candidates if b.covers(row["observed_at"])), None)
        if covering is not None:
            found[row["event_id"]] = covering
    return found


def _raise_alarms(connection: Connection, failures: Sequence[CheckFailure]) -> None:
    first: dict[tuple[str, int, str], CheckFailure] = {}
    for failure in failures:
        if failure.batch_id is None:  # central's checks are against a batch
            raise RuntimeError("a central batch check failed without its batch")
        station = f"{failure.row['site']}/{failure.row['line']}/{failure.row['station']}"
        first.setdefault((station, failure.batch_id, failure.check), failure)
    for (station, batch_id, check), failure in first.items():
        raise_alarm(
            connection,
            station=station,
            kind=MISMATCH_ALARM,
            key=mismatch_alarm_key(batch_id, check),
            message=f"{station}: read does not match batch {batch_id}: {failure.detail}",
            details={
                "batch_id": batch_id,
                "check": check,
                "event_id": str(failure.row["event_id"]),
                "code": failure.row["text"],
            },
        )
        log.debug("%s: read does not match batch %s: %s", station, batch_id, failure.detail)


def _check_row(failure: CheckFailure) -> dict[str, Any]:
    row = failure.row
    event_id: UUID = row["event_id"]
    return {
        "event_id": event_id,
        "source": failure.source,
        "check": failure.check[:CHECK_NAME_LIMIT],
        "detail": failure.detail[:REASON_LIMIT],
        "batch_id": failure.batch_id,
        "site": row["site"],
        "line": row["line"],
        "station": row["station"],
        "observed_at": row["observed_at"],
        "gtin": row["gtin"],
        "lot": row["lot"],
        "code": row["text"],
    }
