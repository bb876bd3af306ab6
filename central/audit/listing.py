"""Reading the audit log back: filtered, newest first, a page at a time with the total.

Offset paging is enough here: auditors page through hundreds of records of a search, not
millions, and a total count is what the page shows.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.audit.chain import AuditRecord
from linetrace.central.store.audit_tables import audit_log

__all__ = ["MAX_AUDIT_PAGE", "AuditPage", "AuditQuery", "find_records", "records_from"]

MAX_AUDIT_PAGE = 500


@dataclass(frozen=True, slots=True)
class AuditQuery:
    """The filters: time range [since, until), exact actor, action (or ``prefix.``), target."""

    since: datetime | None = None
    until: datetime | None = None
    actor: str | None = None
    action: str | None = None
    target: str | None = None
    limit: int = 100
    offset: int = 0

    def where(self) -> list[sa.ColumnElement[bool]]:
        c = audit_log.c
        clauses: list[sa.ColumnElement[bool]] = []
        if self.since is not None:
            clauses.append(c.at >= self.since)
        if self.until is not None:
            clauses.append(c.at < self.until)
        if self.actor:
            clauses.append(c.actor == self.actor)
        if self.action:
            # "batch." finds every batch action; "batch.start" only that one.
            if self.action.endswith("."):
                clauses.append(c.action.startswith(self.action, autoescape=True))
            else:
                clauses.append(c.action == self.action)
        if self.target:
            clauses.append(c.target == self.target)
        return clauses


@dataclass(frozen=True, slots=True)
class AuditPage:
    total: int
    records: list[AuditRecord]


def _record(row: Any) -> AuditRecord:
    return AuditRecord(
        int(row.id),
        row.at,
        row.actor,
        row.action,
        row.target,
        row.details,
        row.prev_hash,
        row.hash,
    )


def find_records(connection: Connection, query: AuditQuery) -> AuditPage:
    """One page of matching records, newest first, and how many match in all."""
    where = query.where()
    total = connection.execute(
        sa.select(sa.func.count()).select_from(audit_log).where(*where)
    ).scalar_one()
    rows = connection.execute(
        sa.select(audit_log)
        .where(*where)
        .order_by(audit_log.c.id.desc())
        .limit(min(query.limit, MAX_AUDIT_PAGE))
        .offset(query.offset)
    )
    return AuditPage(int(total), [_record(row) for row in rows])


def records_from(
    connection: Connection, *, after: int = 0, chunk: int = 1000
) -> Iterator[AuditRecord]:
    """Every record with an id above ``after``, oldest first, read ``chunk`` rows at a time.

    Keyset chunks rather than one cursor: memory stays flat and no statement stays open
    on a log of millions of records.
    """
    last = after
    while True:
        rows = connection.execute(
            sa.select(audit_log).where(audit_log.c.id > last).order_by(audit_log.c.id).limit(chunk)
        ).all()
        for row in rows:
            yield _record(row)
        if len(rows) < chunk:
            return
        last = int(rows[-1].id)
