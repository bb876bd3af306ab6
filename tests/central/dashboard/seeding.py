"""Rows for the dashboard tests: stations, their statuses, recent events, a batch, alarms."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import raise_alarm
from linetrace.central.derive.on_stored import on_events_stored
from linetrace.central.derive.production_batches import BatchStart, start_batch
from linetrace.central.derive.products import ProductData, put_product
from linetrace.central.derive.stations import register_station
from linetrace.central.store import event_row, insert_events, open_engine
from linetrace.central.store.tables import station_status
from tests.central.helpers import GTIN, make_event

__all__ = ["seed_events", "seed_plant", "set_status"]


def seed_plant(database_url: str, *stations: str) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            for name in stations:
                register_station(connection, StationId.parse(name), registered_by="test")
    finally:
        engine.dispose()


def set_status(
    database_url: str, station: str, state: str, age: timedelta, **metrics: float
) -> None:
    parsed = StationId.parse(station)
    at = datetime.now(UTC) - age
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            connection.execute(
                station_status.insert().values(
                    site=parsed.site,
                    line=parsed.line,
                    station=parsed.station,
                    state=state,
                    at=at,
                    received_at=at,
                    metrics=metrics,
                )
            )
    finally:
        engine.dispose()


def seed_events(database_url: str, station: str, kinds: list[tuple[str, timedelta]]) -> None:
    """One event per (kind, age before now), seqs from 1."""
    now = datetime.now(UTC)
    built = [
        make_event(seq, station=station, kind=kind, observed_at=now - age)
        for seq, (kind, age) in enumerate(kinds, start=1)
    ]
    insert(database_url, built, now)


def insert(database_url: str, built: list[Any], received: datetime | None = None) -> None:
    """Store events as the ingest does: the new ones (not resends) derived in the same
    transaction, so the dashboard's minute counts hold them."""
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            rows = [
                event_row(e, json.loads(e.to_payload()), received or datetime.now(UTC))
                for e in built
            ]
            new = insert_events(connection, rows)
            on_events_stored(connection, [row for row in rows if row["event_id"] in new])
    finally:
        engine.dispose()


def open_batch(database_url: str, line: str, lot: str = "L2611") -> int:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            put_product(connection, GTIN, ProductData(name="Cà phê sữa"))
            batch = start_batch(connection, BatchStart(line=line, gtin=GTIN, lot=lot))
            return batch.id
    finally:
        engine.dispose()


def alarm(database_url: str, station: str) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            raise_alarm(connection, station=station, kind="test", key="k", message="test alarm")
    finally:
        engine.dispose()
