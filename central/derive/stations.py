"""The stations registry: which stations central takes events from.

The broker's ACL already proves that a message on a station's topic came from that
station's account; the registry adds the site's own decision that the station belongs
in the records (its GLN, its role, whether it is in service). An event from a station not
registered, or disabled, is dead-lettered with a reason that says what to do, and
``linetrace central dead-letters replay`` takes it in once the station is registered
(or enabled again: ``linetrace central station enable``): nothing is lost by registering
late, or by a station disabled for a while.

Auto-registration (``ingest.auto_register_stations``) registers a station on its first
event instead. It is off by default so that a production site keeps one deliberate step
between provisioning a broker account and records appearing under a new station id (a
mistyped station id in an edge's config shows up as dead letters, not as a new station);
small sites, where the broker accounts are the registry, may turn it on.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Connection, RowMapping

from linetrace.broker.contract.topics import StationId
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.tables import stations
from linetrace.errors import InvalidCode, LinetraceError
from linetrace.gs1 import valid_gln

__all__ = [
    "AUTO",
    "ROLE_PATTERN",
    "Station",
    "StationError",
    "admit",
    "disabled_reason",
    "disabled_reason_prefix",
    "get_station",
    "list_stations",
    "register_station",
    "set_enabled",
    "unknown_station_reason",
]

# ``registered_by`` of stations the ingest registered on their first event.
AUTO = "auto"
# A role is a short word a site chooses (pack, palletise, inspect ...), kept simple so it
# can be a filter in the API and a label in metrics.
ROLE_PATTERN = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
UNKNOWN_STATION_PREFIX = "unknown station"


class StationError(LinetraceError, ValueError):
    """A registration the registry refuses (bad GLN or role)."""


@dataclass(frozen=True, slots=True)
class Station:
    """One registered station."""

    id: StationId
    gln: str | None
    role: str | None
    registered_at: datetime
    registered_by: str
    enabled: bool


def unknown_station_reason(station: StationId) -> str:
    """The dead-letter reason for an unregistered station; replay filters on its prefix."""
    return (
        f"{UNKNOWN_STATION_PREFIX} {station}: register it (linetrace central station add "
        f"{station}), then replay its dead letters (linetrace central dead-letters replay "
        f"--reason-prefix '{UNKNOWN_STATION_PREFIX}')"
    )


def disabled_reason_prefix(station: StationId) -> str:
    """How the dead-letter reasons of a disabled station begin; a replay filters on it."""
    return f"station {station} is disabled"


def disabled_reason(station: StationId) -> str:
    """The dead-letter reason for an event of a disabled station, with the way back."""
    prefix = disabled_reason_prefix(station)
    return (
        f"{prefix}: enable it (linetrace central station enable {station}), then replay "
        f"its dead letters (linetrace central dead-letters replay --reason-prefix '{prefix}')"
    )


def register_station(
    conn: Connection,
    station: StationId,
    *,
    gln: str | None = None,
    role: str | None = None,
    enabled: bool = True,
    registered_by: str = "cli",
) -> Station:
    """Register ``station``, or update it: a ``gln`` or ``role`` left as None keeps its value."""
    _check(gln, role)
    values = {
        "site": station.site,
        "line": station.line,
        "station": station.station,
        "gln": gln,
        "role": role,
        "registered_at": datetime.now(UTC),
        "registered_by": registered_by[:64],
        "enabled": enabled,
    }
    insert = dialect_insert(conn, stations).values(**values)
    changes: dict[str, object] = {"enabled": insert.excluded.enabled}
    if gln is not None:
        changes["gln"] = insert.excluded.gln
    if role is not None:
        changes["role"] = insert.excluded.role
    conn.execute(
        insert.on_conflict_do_update(index_elements=["site", "line", "station"], set_=changes)
    )
    registered = get_station(conn, station)
    if registered is None:  # written by the upsert above, in this transaction
        raise RuntimeError(f"station {station} vanished after its registration")
    return registered


def set_enabled(conn: Connection, station: StationId, enabled: bool) -> bool:
    """Take a station in or out of service; False when it is not registered."""
    result = conn.execute(stations.update().where(*_is(station)).values(enabled=enabled))
    return result.rowcount > 0


def get_station(conn: Connection, station: StationId) -> Station | None:
    row = conn.execute(sa.select(stations).where(*_is(station))).mappings().first()
    return None if row is None else _station(row)


def list_stations(conn: Connection) -> list[Station]:
    statement = sa.select(stations).order_by(stations.c.site, stations.c.line, stations.c.station)
    return [_station(row) for row in conn.execute(statement).mappings()]


def admit(
    conn: Connection, candidates: Collection[StationId], *, auto_register: bool
) -> dict[StationId, str]:
    """Why each station of ``candidates`` that may not send events is refused.

    With ``auto_register`` an unknown station is registered here (in the caller's
    transaction) and admitted; a disabled one stays refused either way.
    """
    if not candidates:
        return {}
    key = sa.tuple_(stations.c.site, stations.c.line, stations.c.station)
    wanted = [(s.site, s.line, s.station) for s in candidates]
    rows = conn.execute(
        sa.select(stations.c.site, stations.c.line, stations.c.station, stations.c.enabled).where(
            key.in_(wanted)
        )
    )
    enabled = {StationId(r.site, r.line, r.station): bool(r.enabled) for r in rows}
    refused: dict[StationId, str] = {}
    for station in candidates:
        if station not in enabled:
            if auto_register:
                _auto_register(conn, station)
            else:
                refused[station] = unknown_station_reason(station)
        elif not enabled[station]:
            refused[station] = disabled_reason(station)
    return refused


def _auto_register(conn: Connection, station: StationId) -> None:
    conn.execute(
        dialect_insert(conn, stations)
        .values(
            site=station.site,
            line=station.line,
            station=station.station,
            registered_at=datetime.now(UTC),
            registered_by=AUTO,
            enabled=True,
        )
        .on_conflict_do_nothing(index_elements=["site", "line", "station"])
    )


def _check(gln: str | None, role: str | None) -> None:
    if gln is not None:
        try:
            valid_gln(gln)
        except InvalidCode as exc:
            raise StationError(str(exc)) from None
    if role is not None and not ROLE_PATTERN.match(role):
        raise StationError(
            f"role {role!r} must be a short lower-case word (letters, digits, '-', '_')"
        )


def _is(station: StationId) -> list[sa.ColumnElement[bool]]:
    return [
        stations.c.site == station.site,
        stations.c.line == station.line,
        stations.c.station == station.station,
    ]


def _station(row: RowMapping) -> Station:
    return Station(
        id=StationId(row["site"], row["line"], row["station"]),
        gln=row["gln"],
        role=row["role"],
        registered_at=row["registered_at"],
        registered_by=row["registered_by"],
        enabled=bool(row["enabled"]),
    )
