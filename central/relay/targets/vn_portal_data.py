"""What the vn-portal adapter reads from central and remembers of the portal.

Reading: the stored events behind a delivery, each with its station's GLN and location
kind and the production batch open on its line when it was seen (the portal's
production order); the master data (producer, product, location) as portal payloads,
named by :mod:`.vn_portal_fields`. Remembering: ``vn_portal_records``, one row per record
created on the portal, written in its own short transaction at each step (pending,
created, confirmed), so a crash or a lost answer between steps resumes where it stopped.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any
from uuid import UUID

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine, RowMapping

from linetrace.central.relay.targets.vn_portal_fields import PortalNames
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import events, stations
from linetrace.central.store.trace_tables import (
    batches,
    locations,
    producer,
    products,
    vn_portal_records,
)

__all__ = [
    "PortalRecordRow",
    "Records",
    "StageEvent",
    "chain_payload",
    "fingerprint",
    "location_payload",
    "master_rows",
    "organisation_payload",
    "product_payload",
    "resolve_events",
    "stage_payload",
]


@dataclass(frozen=True)
class StageEvent:
    """A stored event placed in its batch's chain: which stage, where, when."""

    event_id: UUID
    batch_id: int
    gtin: str
    lot: str
    gln: str | None
    location_kind: str | None
    station: str
    at: datetime  # in the station's own offset


def resolve_events(connection: Connection, event_ids: list[UUID]) -> dict[UUID, StageEvent | str]:
    """Each event's place in a chain, or the reason it has none (unknown, no batch)."""
    rows = connection.execute(
        sa.select(
            events.c.event_id,
            events.c.site,
            events.c.line,
            events.c.station,
            events.c.observed_at,
            events.c.utc_offset_s,
            stations.c.gln,
            locations.c.kind,
        )
        .select_from(
            events.outerjoin(
                stations,
                sa.and_(
                    stations.c.site == events.c.site,
                    stations.c.line == events.c.line,
                    stations.c.station == events.c.station,
                ),
            ).outerjoin(locations, locations.c.gln == stations.c.gln)
        )
        .where(events.c.event_id.in_(event_ids))
    ).all()
    lines = {(row.site, row.line) for row in rows}
    candidates = _batches_on(connection, lines, [row.observed_at for row in rows])
    found: dict[UUID, StageEvent | str] = {
        event_id: "the stored event is not in central's database" for event_id in event_ids
    }
    for row in rows:
        batch = _covering(candidates.get((row.site, row.line), []), row.observed_at)
        station = f"{row.site}/{row.line}/{row.station}"
        if batch is None:
            found[row.event_id] = (
                f"no production batch was open on {row.site}/{row.line} at "
                f"{row.observed_at.isoformat()}: the portal files stages under a production "
                "order (start batches with linetrace central batch start)"
            )
            continue
        offset = timezone(timedelta(seconds=row.utc_offset_s))
        found[row.event_id] = StageEvent(
            event_id=row.event_id,
            batch_id=batch["id"],
            gtin=batch["gtin"],
            lot=batch["lot"],
            gln=row.gln,
            location_kind=row.kind,
            station=station,
            at=row.observed_at.astimezone(offset),
        )
    return found


def _batches_on(
    connection: Connection, lines: set[tuple[str, str]], times: list[datetime]
) -> dict[tuple[str, str], list[RowMapping]]:
    if not lines:
        return {}
    statement = (
        sa.select(batches)
        .where(
            sa.tuple_(batches.c.site, batches.c.line).in_(sorted(lines)),
            batches.c.started_at <= max(times),
            sa.or_(batches.c.closed_at.is_(None), batches.c.closed_at >= min(times)),
        )
        .order_by(batches.c.started_at)
    )
    found: dict[tuple[str, str], list[RowMapping]] = {}
    for row in connection.execute(statement).mappings():
        found.setdefault((row["site"], row["line"]), []).append(row)
    return found


def _covering(candidates: list[RowMapping], when: datetime) -> RowMapping | None:
    for batch in reversed(candidates):  # the latest started first
        if batch["started_at"] <= when and (
            batch["closed_at"] is None or when <= batch["closed_at"]
        ):
            return batch
    return None


# -- payloads -------------------------------------------------------------------------


def organisation_payload(names: PortalNames, org: RowMapping) -> dict[str, Any]:
    f = names.fields
    return {
        f.reference: "lt:organisation",
        f.org_name: org["name"],
        f.org_address: org["address"],
        f.org_gln: org["gln"],
        f.org_tax_code: org["tax_code"],
    }


def product_payload(
    names: PortalNames, product: RowMapping, org: RowMapping, organisation_id: str
) -> dict[str, Any]:
    f = names.fields
    return {
        f.reference: f"lt:product:{product['gtin']}",
        f.organisation_id: organisation_id,
        f.product_name: product["name"],
        f.product_gtin: product["gtin"],
        f.product_image: product["image_url"],
        f.product_brand: product["brand"],
        f.product_model: product["model_code"],
        f.product_standards: list(product["standards"] or []),
        f.product_unit: product["unit"],
        f.product_description: product["description"],
        f.product_producer_name: product["producer_name"] or org["name"],
        f.product_producer_address: product["producer_address"] or org["address"],
    }


def location_payload(
    names: PortalNames, location: RowMapping, organisation_id: str
) -> dict[str, Any]:
    f = names.fields
    return {
        f.reference: f"lt:location:{location['gln']}",
        f.organisation_id: organisation_id,
        f.location_name: location["name"],
        f.location_address: location["address"],
        f.location_gln: location["gln"],
        f.location_kind: location["kind"],
    }


def chain_payload(names: PortalNames, batch: RowMapping, product_id: str) -> dict[str, Any]:
    f = names.fields
    produced: date = batch["production_date"] or batch["started_at"].astimezone(UTC).date()
    return {
        f.reference: f"lt:batch:{batch['id']}",
        f.chain_order: batch["production_order"] or f"LT-{batch['id']}",
        f.chain_product_id: product_id,
        f.chain_lot: batch["lot"],
        f.chain_trace_code: f"(01){batch['gtin']}(10){batch['lot']}",
        f.chain_production_date: produced.isoformat(),
        f.chain_expiry: batch["expiry"].isoformat() if batch["expiry"] else None,
        f.chain_quantity: batch["target_quantity"],
    }


def stage_payload(
    names: PortalNames,
    first: StageEvent,
    *,
    chain_id: str,
    location_id: str,
    stage_type: str,
) -> dict[str, Any]:
    """A stage: product trace code (01)+GTIN-14, location trace code (414)+GLN, the time."""
    f = names.fields
    return {
        f.reference: stage_key(first, stage_type),
        f.stage_chain_id: chain_id,
        f.stage_type: stage_type,
        f.stage_product_code: f"(01){first.gtin}",
        f.stage_location_code: f"(414){first.gln}",
        f.stage_location_id: location_id,
        f.stage_time: first.at.isoformat(timespec="milliseconds"),
    }


def stage_key(event: StageEvent, stage_type: str) -> str:
    """One stage per batch, location and stage type: every event there folds into it."""
    return f"lt:stage:{event.batch_id}:{event.gln}:{stage_type}"


def fingerprint(payload: dict[str, Any]) -> str:
    """sha-256 of the payload's canonical JSON: a change of master data shows as a new one."""
    text = json.dumps(payload, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()


# -- what the portal holds ------------------------------------------------------------


@dataclass(frozen=True)
class PortalRecordRow:
    portal_id: str | None
    fingerprint: str
    confirmed: bool


class Records:
    """``vn_portal_records`` of one target; every write commits at once."""

    def __init__(self, engine: Engine, target: str) -> None:
        self._engine = engine
        self._target = target

    def get(self, kind: str, key: str) -> PortalRecordRow | None:
        with self._engine.connect() as connection:
            row = (
                connection.execute(sa.select(vn_portal_records).where(*self._is(kind, key)))
                .mappings()
                .first()
            )
        if row is None:
            return None
        return PortalRecordRow(
            row["portal_id"], row["fingerprint"], row["confirmed_at"] is not None
        )

    def pending(self, kind: str, key: str, print_: str) -> bool:
        """A create is about to be sent: its answer may be lost, so note it first.

        False when the row was there already: another central instance is creating it.
        """
        now = datetime.now(UTC)
        with self._engine.begin() as connection:
            insert = dialect_insert(connection, vn_portal_records).values(
                target=self._target, record_kind=kind, record_key=key, portal_id=None,
                fingerprint=print_, created_at=now, updated_at=now, confirmed_at=None,
            )  # fmt: skip
            statement = insert.on_conflict_do_nothing().returning(vn_portal_records.c.record_key)
            return connection.execute(statement).first() is not None

    def confirmed_keys(self, kind: str, keys: set[str]) -> set[str]:
        """Which of ``keys`` the portal has confirmed."""
        with self._engine.connect() as connection:
            return set(
                connection.execute(
                    sa.select(vn_portal_records.c.record_key).where(
                        vn_portal_records.c.target == self._target,
                        vn_portal_records.c.record_kind == kind,
                        vn_portal_records.c.record_key.in_(sorted(keys)),
                        vn_portal_records.c.confirmed_at.is_not(None),
                    )
                ).scalars()
            )

    def created(self, kind: str, key: str, portal_id: str, print_: str) -> None:
        self._set(kind, key, portal_id=portal_id, fingerprint=print_, confirmed_at=None)

    def confirmed(self, kind: str, key: str) -> None:
        self._set(kind, key, confirmed_at=datetime.now(UTC))

    def _set(self, kind: str, key: str, **values: Any) -> None:
        with self._engine.begin() as connection:
            connection.execute(
                vn_portal_records.update()
                .where(*self._is(kind, key))
                .values(**values, updated_at=datetime.now(UTC))
            )

    def _is(self, kind: str, key: str) -> list[sa.ColumnElement[bool]]:
        return [
            vn_portal_records.c.target == self._target,
            vn_portal_records.c.record_kind == kind,
            vn_portal_records.c.record_key == key,
        ]


def master_rows(
    connection: Connection, gtin: str, glns: set[str], batch_id: int
) -> tuple[RowMapping | None, RowMapping | None, dict[str, RowMapping], RowMapping]:
    """The producer, the product, the named locations and the batch behind one chain."""
    org = connection.execute(sa.select(producer)).mappings().first()
    product = (
        connection.execute(sa.select(products).where(products.c.gtin == gtin)).mappings().first()
    )
    places = {
        row["gln"]: row
        for row in connection.execute(
            sa.select(locations).where(locations.c.gln.in_(sorted(glns)))
        ).mappings()
    }
    batch = connection.execute(sa.select(batches).where(batches.c.id == batch_id)).mappings().one()
    return org, product, places, batch
