"""Which lots are old enough to archive: Vietnam's traceability rules keep a lot's data at
least 12 months after the product's expiry date, and 60 months when it has none.

Per lot (GTIN + AI 10), from small tables only (the per-lot summaries, the batches and the
containment) plus one grouped read of the expiry dates the labels carried:

- the expiry: the latest of the batches' expiry and the labels' AI 17 (when a label and its
  batch disagree, the later date keeps the data longer);
- the last event: the lot's last read or pack, or the close of its last batch;
- keep until: expiry + 12 months, else last event + 60 months, and never before the last
  event (a lot still seen is a lot still in use); may be archived from the day after;
- never due while one of its batches is still open.

Dates are calendar dates; "today" is the caller's, so a test (or an operator planning
ahead) can ask what is due on any day.

Only lots fall due. The audit log never does: it is kept at least as long as the events
(:mod:`linetrace.central.store.retention` never deletes it).
"""

from __future__ import annotations

import calendar
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.mismatches import gs1_date
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import (
    NO_GTIN,
    batches,
    containment,
    lot_station_summaries,
    products,
)

__all__ = [
    "MONTHS_AFTER_EXPIRY",
    "MONTHS_WITHOUT_EXPIRY",
    "LotRetention",
    "add_months",
    "lot_retention",
    "lots_retention",
]

MONTHS_AFTER_EXPIRY = 12
MONTHS_WITHOUT_EXPIRY = 60


def add_months(day: date, months: int) -> date:
    """``day`` plus whole months; the 29th-31st become the month's last day if it is shorter."""
    index = day.year * 12 + day.month - 1 + months
    year, month = divmod(index, 12)
    last = calendar.monthrange(year, month + 1)[1]
    return date(year, month + 1, min(day.day, last))


@dataclass(frozen=True, slots=True)
class LotRetention:
    """One lot's retention: how long its data must be kept, and why."""

    gtin: str
    lot: str
    product: str | None
    expiry: date | None
    last_event: datetime | None
    open_batch: bool
    keep_until: date
    reason: str

    @property
    def may_archive_on(self) -> date:
        return self.keep_until + timedelta(days=1)

    def due(self, today: date) -> bool:
        """Whether no rule requires the lot's data any more on ``today``."""
        return not self.open_batch and today >= self.may_archive_on

    def as_json(self, today: date) -> dict[str, object]:
        return {
            "gtin": self.gtin,
            "lot": self.lot,
            "product": self.product,
            "expiry": self.expiry.isoformat() if self.expiry else None,
            "last_event": self.last_event.isoformat() if self.last_event else None,
            "keep_until": self.keep_until.isoformat(),
            "may_archive_on": None if self.open_batch else self.may_archive_on.isoformat(),
            "due": self.due(today),
            "reason": self.reason,
        }


@dataclass
class _Facts:
    last_event: datetime | None = None
    expiry: date | None = None
    open_batch: bool = False

    def seen(self, when: datetime | None) -> None:
        if when is not None and (self.last_event is None or when > self.last_event):
            self.last_event = when

    def expires(self, day: date | None) -> None:
        if day is not None and (self.expiry is None or day > self.expiry):
            self.expiry = day


def _facts(
    connection: Connection, lot_filter: tuple[str, str] | None
) -> dict[tuple[str, str], _Facts]:
    def where(
        gtin: sa.ColumnElement[str | None], lot: sa.ColumnElement[str | None]
    ) -> list[sa.ColumnElement[bool]]:
        if lot_filter is None:
            return [gtin.is_not(None), gtin != NO_GTIN, lot.is_not(None)]
        return [gtin == lot_filter[0], lot == lot_filter[1]]

    facts: dict[tuple[str, str], _Facts] = {}
    s = lot_station_summaries.c
    for gtin, lot, last in connection.execute(
        sa.select(s.gtin, s.lot, sa.func.max(s.last_seen))
        .where(*where(s.gtin, s.lot))
        .group_by(s.gtin, s.lot)
    ):
        facts.setdefault((gtin, lot), _Facts()).seen(last)
    c = containment.c
    for gtin, lot, last in connection.execute(
        sa.select(c.child_gtin, c.child_lot, sa.func.max(c.packed_at))
        .where(*where(c.child_gtin, c.child_lot))
        .group_by(c.child_gtin, c.child_lot)
    ):
        facts.setdefault((gtin, lot), _Facts()).seen(last)
    b = batches.c
    for row in connection.execute(
        sa.select(b.gtin, b.lot, b.expiry, b.started_at, b.closed_at).where(*where(b.gtin, b.lot))
    ):
        lot_facts = facts.setdefault((row.gtin, row.lot), _Facts())
        lot_facts.seen(row.closed_at or row.started_at)
        lot_facts.expires(row.expiry)
        lot_facts.open_batch |= row.closed_at is None
    e = events.c
    for gtin, lot, yymmdd in connection.execute(
        sa.select(e.gtin, e.lot, e.expiry)
        .where(*where(e.gtin, e.lot), e.expiry.is_not(None))
        .group_by(e.gtin, e.lot, e.expiry)
    ):
        if (gtin, lot) in facts:
            facts[(gtin, lot)].expires(gs1_date(yymmdd))
    return facts


def _retention(gtin: str, lot: str, product: str | None, facts: _Facts) -> LotRetention:
    last_day = facts.last_event.date() if facts.last_event is not None else None
    if facts.expiry is not None:
        keep_until = add_months(facts.expiry, MONTHS_AFTER_EXPIRY)
        reason = f"{MONTHS_AFTER_EXPIRY} months after its expiry {facts.expiry.isoformat()}"
    else:
        start = last_day or date.min
        keep_until = add_months(start, MONTHS_WITHOUT_EXPIRY)
        reason = f"no expiry: {MONTHS_WITHOUT_EXPIRY} months after its last event"
    if last_day is not None and last_day > keep_until:
        keep_until = last_day
        reason += f", but seen as late as {last_day.isoformat()}"
    if facts.open_batch:
        reason += "; a batch of the lot is still open"
    return LotRetention(
        gtin, lot, product, facts.expiry, facts.last_event, facts.open_batch, keep_until, reason
    )


def _products(connection: Connection) -> dict[str, str]:
    return {
        gtin: name for gtin, name in connection.execute(sa.select(products.c.gtin, products.c.name))
    }


def lots_retention(connection: Connection) -> list[LotRetention]:
    """Every lot with a GTIN, in (may archive on, GTIN, lot) order."""
    names = _products(connection)
    found = [
        _retention(gtin, lot, names.get(gtin), facts)
        for (gtin, lot), facts in _facts(connection, None).items()
    ]
    return sorted(found, key=lambda r: (r.open_batch, r.keep_until, r.gtin, r.lot))


def lot_retention(connection: Connection, gtin: str, lot: str) -> LotRetention | None:
    """One lot's retention, or None if nothing of it is stored."""
    facts = _facts(connection, (gtin, lot)).get((gtin, lot))
    if facts is None:
        return None
    return _retention(gtin, lot, _products(connection).get(gtin), facts)
