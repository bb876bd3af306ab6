"""Shared pieces of the relay tests: stored events queued for targets, queue counts."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import ScanEvent
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.central.ingest.write_batch import BatchOptions, BatchResult, Inbound, write_batch
from linetrace.central.store.relay_tables import relay_ledger, relay_queue
from tests.central.helpers import make_event

__all__ = ["queue_rows", "reads", "state_counts", "store_queued"]


def reads(count: int, first: int = 1, **extra: Any) -> list[ScanEvent]:
    """``count`` reads of distinct serialised items (GTIN + lot + serial)."""
    return [make_event(seq, **extra) for seq in range(first, first + count)]


def store_queued(engine: Engine, scans: list[ScanEvent], targets: tuple[str, ...]) -> BatchResult:
    """Store events as the ingest does, queued for ``targets``."""
    received = datetime.now(UTC)
    messages = [
        Inbound(topic(StationId.parse(str(e.station_id)), Channel.EVENTS), e.to_payload(), received)
        for e in scans
    ]
    return write_batch(engine, messages, BatchOptions(auto_register=True, relay_targets=targets))


def queue_rows(engine: Engine, target: str | None = None) -> list[dict[str, Any]]:
    query = sa.select(relay_queue).order_by(relay_queue.c.id)
    if target is not None:
        query = query.where(relay_queue.c.target == target)
    with engine.connect() as connection:
        return [dict(row._mapping) for row in connection.execute(query)]


def state_counts(engine: Engine, target: str) -> Counter[str]:
    return Counter(row["state"] for row in queue_rows(engine, target))


def ledger_ids(engine: Engine, target: str) -> list[str]:
    with engine.connect() as connection:
        return list(
            connection.execute(
                sa.select(relay_ledger.c.epcis_event_id).where(relay_ledger.c.target == target)
            ).scalars()
        )
