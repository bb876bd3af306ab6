"""Production batches: which product and lot a line is packing, from start to close.

An operator starts a batch on a line (GTIN, lot, dates, quantity, production order) and
closes it when the run ends. At most one batch is open per line, which the database
enforces with a partial unique index. A batch spans ``[started_at, closed_at)``; central
checks every read against the batch open on its line at the read's ``observed_at``
(:mod:`.mismatches`), so a read that reaches central late is still judged against the
batch that was running when the item passed the camera.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    computed_field,
    model_validator,
)
from sqlalchemy.engine import Connection, RowMapping

from linetrace.broker.contract.messages import BatchAnnouncement
from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.derive.alarms import clear_alarm, open_alarm_keys
from linetrace.central.derive.products import get_product
from linetrace.central.store.tables import events
from linetrace.central.store.trace_tables import batches, event_checks
from linetrace.errors import LinetraceError, NotFound
from linetrace.gs1 import LOT_PATTERN, gtin14

__all__ = [
    "MAX_BATCHES_PAGE",
    "MISMATCH_ALARM",
    "Batch",
    "BatchClosed",
    "BatchCounts",
    "BatchError",
    "BatchNotFound",
    "BatchStart",
    "LineBusy",
    "StationCounts",
    "UnknownProduct",
    "batch_counts",
    "batches_overlapping",
    "close_batch",
    "get_batch",
    "list_batches",
    "mismatch_alarm_key",
    "parse_line",
    "start_batch",
]

# The alarm kind central raises when a read does not match its batch.
MISMATCH_ALARM = "batch_mismatch"
# A page of batches for the operator's list: a few weeks of shifts on a busy plant.
MAX_BATCHES_PAGE = 500


class BatchError(LinetraceError, ValueError):
    """A batch operation refused; the message says why, in an operator's words."""


class LineBusy(BatchError):
    """Another batch is open on the line."""


class UnknownProduct(BatchError):
    """The batch names a GTIN without product master data."""


class BatchClosed(BatchError):
    """The batch was closed already."""


class BatchNotFound(NotFound):
    """No batch has this id."""


def parse_line(text: str) -> tuple[str, str]:
    """``SITE/LINE`` as its two parts, each checked like the parts of a station id."""
    parts = text.split("/")
    if len(parts) != 2:
        raise TopicError(f"line {text!r} must be SITE/LINE")
    # A station id validates each part as a safe topic level; the station is a stand-in.
    station = StationId(parts[0], parts[1], "any")
    return station.site, station.line


def _line(text: str) -> str:
    parse_line(text)
    return text


def _gtin(text: str) -> str:
    return gtin14(text)


def _lot(text: str) -> str:
    if not LOT_PATTERN.match(text):
        raise ValueError("lot must be 1-20 characters of the GS1 character set (AI 10)")
    return text


class BatchStart(BaseModel):
    """What an operator gives to start a batch on a line."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    line: Annotated[str, AfterValidator(_line)] = Field(
        description="The line, as SITE/LINE.", examples=["hcm1/L1"]
    )
    gtin: Annotated[str, AfterValidator(_gtin)] = Field(
        description="GTIN (8, 12, 13 or 14 digits) of the product; stored as GTIN-14."
    )
    lot: Annotated[str, AfterValidator(_lot)] = Field(
        description="Lot / batch number printed on the items (GS1 AI 10)."
    )
    expiry: date | None = Field(default=None, description="Expiry date (AI 17), if any.")
    production_date: date | None = Field(
        default=None, description="Production date (AI 11), if any."
    )
    target_quantity: int | None = Field(
        default=None, ge=1, le=2**31 - 1, description="How many items are planned."
    )
    production_order: str | None = Field(
        default=None, min_length=1, max_length=64, description="ERP production order id."
    )

    @model_validator(mode="after")
    def _dates_in_order(self) -> BatchStart:
        if self.expiry and self.production_date and self.expiry < self.production_date:
            raise ValueError("expiry is before production_date")
        return self


class Batch(BaseModel):
    """A stored batch."""

    model_config = ConfigDict(frozen=True)

    id: int = Field(description="Central's batch id.")
    line: str = Field(description="SITE/LINE the batch runs on.")
    gtin: str = Field(description="GTIN-14 of the product.")
    lot: str = Field(description="Lot / batch number (AI 10).")
    expiry: date | None = Field(description="Expiry date (AI 17).")
    production_date: date | None = Field(description="Production date (AI 11).")
    target_quantity: int | None = Field(description="Items planned.")
    production_order: str | None = Field(description="ERP production order id.")
    started_at: AwareDatetime = Field(description="When the batch was started.")
    closed_at: AwareDatetime | None = Field(description="When it was closed; null while open.")

    @computed_field  # type: ignore[prop-decorator]  # pydantic's documented form
    @property
    def state(self) -> Literal["open", "closed"]:
        """open until the batch is closed."""
        return "open" if self.closed_at is None else "closed"

    @property
    def site_line(self) -> tuple[str, str]:
        return parse_line(self.line)

    def covers(self, when: datetime) -> bool:
        """True when the batch was open at ``when``."""
        return self.started_at <= when and (self.closed_at is None or when < self.closed_at)

    def announcement(self) -> BatchAnnouncement:
        """The retained message that tells the line's stations what is being packed."""
        return BatchAnnouncement(
            batch_id=str(self.id),
            gtin=self.gtin,
            lot=self.lot,
            expiry=self.expiry,
            production_date=self.production_date,
            target_quantity=self.target_quantity,
            production_order=self.production_order,
            started_at=self.started_at,
        )


class StationCounts(BaseModel):
    """What one station saw while a batch was open."""

    model_config = ConfigDict(frozen=True)

    station: str = Field(description="SITE/LINE/STATION.")
    reads: int = Field(description="Read events while the batch was open.")
    items: int = Field(description="Distinct items (GTIN + serial) among them.")
    noreads: int = Field(description="No-read events while the batch was open.")
    packs: int = Field(description="Pack events while the batch was open.")
    mismatches: int = Field(description="Events that failed a check against the batch.")


@dataclass(frozen=True, slots=True)
class BatchCounts:
    """A batch's counts, per station; ``mismatches`` counts events, not failed checks."""

    stations: list[StationCounts]

    def total(self, name: str) -> int:
        return sum(int(getattr(counts, name)) for counts in self.stations)


def mismatch_alarm_key(batch_id: int, check: str) -> str:
    """The key of the alarm for reads failing ``check`` against batch ``batch_id``."""
    return f"batch {batch_id} {check}"


def start_batch(connection: Connection, start: BatchStart) -> Batch:
    """Open a batch on the line; :class:`LineBusy` when one is open there already."""
    site, line = parse_line(start.line)
    if get_product(connection, start.gtin) is None:
        raise UnknownProduct(
            f"no product master data for GTIN {start.gtin}: set it first "
            f"(PUT /api/products/{start.gtin} or linetrace central product set)"
        )
    busy = _open_on(connection, site, line)
    if busy is not None:
        raise _line_busy(busy)
    values = start.model_dump(exclude={"line"})
    statement = (
        batches.insert()
        .values(site=site, line=line, started_at=datetime.now(UTC), **values)
        .returning(*batches.c)
    )
    try:
        row = connection.execute(statement).mappings().one()
    except sa.exc.IntegrityError:
        # The unique index caught a batch started on the same line in the same moment.
        raise LineBusy(
            f"another batch was just started on line {start.line}; list the open batches"
        ) from None
    return _batch(row)


def close_batch(connection: Connection, batch_id: int) -> Batch:
    """Close an open batch and clear its mismatch alarms (no more reads are judged by it)."""
    closed = connection.execute(
        batches.update()
        .where(batches.c.id == batch_id, batches.c.closed_at.is_(None))
        .values(closed_at=datetime.now(UTC))
        .returning(*batches.c)
    ).mappings()
    row = closed.first()
    if row is None:
        existing = get_batch(connection, batch_id)
        if existing.closed_at is None:  # found, so the update only missed a closed batch
            raise RuntimeError(f"batch {batch_id} was neither open nor closed")
        raise BatchClosed(f"batch {batch_id} was closed already, at {existing.closed_at}")
    prefix = mismatch_alarm_key(batch_id, "")
    for station, key in open_alarm_keys(connection, MISMATCH_ALARM):
        if key.startswith(prefix):
            clear_alarm(connection, station=station, kind=MISMATCH_ALARM, key=key)
    return _batch(row)


def get_batch(connection: Connection, batch_id: int) -> Batch:
    """The batch with this id; :class:`BatchNotFound` if there is none."""
    row = connection.execute(sa.select(batches).where(batches.c.id == batch_id)).mappings()
    found = row.first()
    if found is None:
        raise BatchNotFound(f"no batch has id {batch_id}")
    return _batch(found)


def list_batches(
    connection: Connection,
    *,
    line: tuple[str, str] | None = None,
    state: Literal["open", "closed"] | None = None,
    lot: str | None = None,
    gtin: str | None = None,
    limit: int = 100,
    within: Callable[[Any, Any], sa.ColumnElement[bool]] | None = None,
) -> list[Batch]:
    """Batches, most recently started first; ``within(site, line)`` builds a scope clause."""
    statement = sa.select(batches).order_by(batches.c.started_at.desc(), batches.c.id.desc())
    if within is not None:
        statement = statement.where(within(batches.c.site, batches.c.line))
    if line is not None:
        statement = statement.where(batches.c.site == line[0], batches.c.line == line[1])
    if state == "open":
        statement = statement.where(batches.c.closed_at.is_(None))
    elif state == "closed":
        statement = statement.where(batches.c.closed_at.is_not(None))
    if lot is not None:
        statement = statement.where(batches.c.lot == lot)
    if gtin is not None:
        statement = statement.where(batches.c.gtin == gtin)
    rows = connection.execute(statement.limit(limit)).mappings()
    return [_batch(row) for row in rows]


def batches_overlapping(
    connection: Connection, lines: set[tuple[str, str]], since: datetime, until: datetime
) -> list[Batch]:
    """The batches of ``lines`` open at any time in ``[since, until]``."""
    if not lines:
        return []
    statement = sa.select(batches).where(
        sa.tuple_(batches.c.site, batches.c.line).in_(sorted(lines)),
        batches.c.started_at <= until,
        sa.or_(batches.c.closed_at.is_(None), batches.c.closed_at > since),
    )
    return [_batch(row) for row in connection.execute(statement).mappings()]


def batch_counts(connection: Connection, batch: Batch) -> BatchCounts:
    """Reads, distinct items, no-reads, packs and mismatching events per station."""
    site, line = batch.site_line
    window = [
        events.c.site == site,
        events.c.line == line,
        events.c.observed_at >= batch.started_at,
    ]
    if batch.closed_at is not None:
        window.append(events.c.observed_at < batch.closed_at)
    kinds = sa.select(
        events.c.station,
        sa.func.count().filter(events.c.kind == "read").label("reads"),
        sa.func.count(sa.distinct(events.c.gtin + "/" + events.c.serial))
        .filter(events.c.kind == "read")
        .label("items"),
        sa.func.count().filter(events.c.kind == "noread").label("noreads"),
        sa.func.count().filter(events.c.kind == "pack").label("packs"),
    ).where(*window)
    per_station: dict[str, dict[str, Any]] = {
        row.station: dict(row._mapping)
        for row in connection.execute(kinds.group_by(events.c.station))
    }
    mismatched = connection.execute(
        sa.select(event_checks.c.station, sa.func.count(sa.distinct(event_checks.c.event_id)))
        .where(event_checks.c.batch_id == batch.id)
        .group_by(event_checks.c.station)
    )
    mismatches = {station: int(count) for station, count in mismatched}
    names = sorted(per_station.keys() | mismatches.keys())
    empty = {"reads": 0, "items": 0, "noreads": 0, "packs": 0}
    return BatchCounts(
        [
            StationCounts(
                station=f"{site}/{line}/{name}",
                reads=int(per_station.get(name, empty)["reads"]),
                items=int(per_station.get(name, empty)["items"]),
                noreads=int(per_station.get(name, empty)["noreads"]),
                packs=int(per_station.get(name, empty)["packs"]),
                mismatches=mismatches.get(name, 0),
            )
            for name in names
        ]
    )


def _open_on(connection: Connection, site: str, line: str) -> Batch | None:
    row = connection.execute(
        sa.select(batches).where(
            batches.c.site == site, batches.c.line == line, batches.c.closed_at.is_(None)
        )
    ).mappings()
    found = row.first()
    return None if found is None else _batch(found)


def _line_busy(open_batch: Batch) -> LineBusy:
    return LineBusy(
        f"line {open_batch.line} is packing batch {open_batch.id} (GTIN {open_batch.gtin}, "
        f"lot {open_batch.lot}, started {open_batch.started_at.isoformat()}); close it first"
    )


def _batch(row: RowMapping) -> Batch:
    values = dict(row)
    values["line"] = f"{values.pop('site')}/{values['line']}"
    return Batch.model_validate(values)
