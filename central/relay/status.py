"""Reconciliation: what the relay queue holds per target and per lot, and each target's health.

Read by ``GET /api/relay`` and ``linetrace central relay status``; the health rows are
written by the worker (:func:`record_health`), whichever instance runs it, so the API
process shows them without running a worker itself. Counts come from one grouped query
over the queue's (target, lot, gtin, state) index.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.relay_tables import RELAY_STATES, relay_queue, relay_target_health
from linetrace.central.store.tables import REASON_LIMIT

__all__ = ["parse_lot", "record_health", "relay_status"]

_q = relay_queue.c
_h = relay_target_health.c


def parse_lot(text: str) -> tuple[str | None, str]:
    """``GTIN/LOT`` or a bare ``LOT`` -> (gtin or None, lot)."""
    gtin, slash, lot = text.rpartition("/")
    if not slash:
        return None, text
    return gtin or None, lot


def record_health(
    connection: Connection,
    target: str,
    *,
    breaker: str,
    consecutive_failures: int,
    error: str | None,
    success: bool,
    details: Mapping[str, object],
    now: datetime,
) -> None:
    """Upsert ``target``'s health after a send (``error`` set: it failed)."""
    values: dict[str, Any] = {
        "target": target,
        "breaker": breaker,
        "consecutive_failures": consecutive_failures,
        "details": dict(details),
        "updated_at": now,
    }
    if error is not None:
        values |= {"last_error": error[:REASON_LIMIT], "last_error_at": now}
    if success:
        values["last_success_at"] = now
    insert = dialect_insert(connection, relay_target_health).values(values)
    update = {key: insert.excluded[key] for key in values if key != "target"}
    connection.execute(insert.on_conflict_do_update(index_elements=["target"], set_=update))


def relay_status(
    connection: Connection,
    now: datetime,
    *,
    targets: Sequence[str] = (),
    lot: str | None = None,
    gtin: str | None = None,
) -> dict[str, Any]:
    """Per target: counts by state, the oldest undelivered event, health, and per lot."""
    condition = []
    if lot is not None:
        condition.append(_q.lot == lot)
    if gtin is not None:
        condition.append(_q.gtin == gtin)
    undelivered = _q.state.in_(("queued", "sent"))
    grouped = connection.execute(
        sa.select(
            _q.target,
            _q.lot,
            _q.gtin,
            _q.state,
            sa.func.count(),
            sa.func.min(sa.case((undelivered, _q.queued_at))),
        )
        .where(*condition)
        .group_by(_q.target, _q.lot, _q.gtin, _q.state)
    ).all()
    health = {
        row.target: row._asdict() for row in connection.execute(sa.select(relay_target_health))
    }
    report: dict[str, dict[str, Any]] = {
        name: _empty_target(name, health.get(name)) for name in {*targets, *health}
    }
    for target, row_lot, row_gtin, state, count, oldest in grouped:
        entry = report.setdefault(target, _empty_target(target, health.get(target)))
        entry["counts"][state] = entry["counts"].get(state, 0) + count
        lot_key = f"{row_gtin or ''}/{row_lot or ''}"
        lot_entry = entry["lots"].setdefault(
            lot_key, {"gtin": row_gtin, "lot": row_lot, **dict.fromkeys(RELAY_STATES, 0)}
        )
        lot_entry[state] += count
        if oldest is not None and (
            entry["oldest_undelivered_at"] is None or oldest < entry["oldest_undelivered_at"]
        ):
            entry["oldest_undelivered_at"] = oldest
    for entry in report.values():
        oldest = entry["oldest_undelivered_at"]
        entry["oldest_undelivered_age_s"] = (
            round((now - oldest).total_seconds(), 3) if oldest is not None else None
        )
        entry["lots"] = sorted(
            entry["lots"].values(), key=lambda e: (e["gtin"] or "", e["lot"] or "")
        )
    return {"generated_at": now, "targets": [report[name] for name in sorted(report)]}


def _empty_target(name: str, health: Mapping[str, Any] | None) -> dict[str, Any]:
    return {
        "target": name,
        "counts": dict.fromkeys(RELAY_STATES, 0),
        "oldest_undelivered_at": None,
        "oldest_undelivered_age_s": None,
        "health": _health(health),
        "lots": {},
    }


def _health(row: Mapping[str, Any] | None) -> dict[str, Any]:
    if row is None:
        return {"breaker": "unknown", "consecutive_failures": 0, "last_error": None,
                "last_error_at": None, "last_success_at": None, "details": {}, "updated_at": None}  # fmt: skip
    return {key: value for key, value in row.items() if key != "target"}
