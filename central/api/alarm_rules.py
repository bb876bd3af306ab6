"""``GET/PUT /api/alarm-rules``: the alarm thresholds, site-wide and per station (admins).

An admin scoped to some sites or lines sees and changes only their stations' rows; the
site-wide defaults are an unscoped admin's. A PUT replaces the whole set: the defaults (what they override of the built-in
thresholds) and each station's overrides (a station left out inherits the defaults; a
threshold set to ``null`` turns that alarm off). The sweep applies them within seconds,
no restart needed. Every change is recorded in the audit log.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, HTTPException, Request, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection

from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.audit import actor_of, record
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.principal import Principal
from linetrace.central.auth.roles import Permission
from linetrace.central.derive.alarm_rules import (
    RuleBook,
    ThresholdOverrides,
    Thresholds,
    load_rules,
    save_rules,
)
from linetrace.central.derive.stations import list_stations

__all__ = ["AlarmRulesIn", "AlarmRulesOut", "router"]

router = APIRouter(prefix="/api", tags=["alarms"])

_EXAMPLE: dict[str, Any] = {
    "defaults": {"read_rate_min_pct": 92.5, "window_s": 600},
    "stations": {"hcm1/L1/pack-1": {"noread_max_pct": 5, "offline_after_s": None}},
}


class StationRulesOut(BaseModel):
    station: str = Field(description="SITE/LINE/STATION.")
    overrides: dict[str, Any] = Field(description="What the station sets over the defaults.")
    effective: Thresholds = Field(description="The thresholds that apply to it.")


class AlarmRulesOut(BaseModel):
    builtin: Thresholds = Field(description="The thresholds when nothing is set.")
    defaults: dict[str, Any] = Field(description="What the site-wide row overrides.")
    effective_defaults: Thresholds = Field(description="Site-wide thresholds in force.")
    stations: list[StationRulesOut] = Field(description="Every registered station's rules.")
    updated_at: datetime | None = Field(description="When the rules were last set.")
    updated_by: str | None = Field(description="Who set them.")


class AlarmRulesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"examples": [_EXAMPLE]})

    defaults: ThresholdOverrides = Field(
        default_factory=ThresholdOverrides,
        description="Site-wide overrides of the built-in thresholds.",
    )
    stations: dict[str, ThresholdOverrides] = Field(
        default_factory=dict,
        max_length=10_000,
        description="SITE/LINE/STATION -> overrides of the defaults (registered stations).",
    )


@router.get(
    "/alarm-rules",
    response_model=AlarmRulesOut,
    dependencies=[allow(Permission.ADMINISTER)],
)
def get_alarm_rules(principal: CurrentPrincipal, engine: EngineDep) -> AlarmRulesOut:
    """The thresholds: built-in, site-wide and per registered station (within scope)."""
    with engine.connect() as connection:
        return _out(connection, load_rules(connection), principal)


@router.put(
    "/alarm-rules",
    response_model=AlarmRulesOut,
    responses=responses(400, 422),
    dependencies=[allow(Permission.ADMINISTER)],
)
def put_alarm_rules(
    body: AlarmRulesIn, request: Request, principal: CurrentPrincipal, engine: EngineDep
) -> AlarmRulesOut:
    """Replace the thresholds. A station must be registered; ``null`` turns a rule off
    (``window_s``, ``min_events`` and ``hysteresis_pct`` cannot be off). A scoped admin
    sends the rows outside their scope back as they are (they are kept whatever is sent)."""
    actor = actor_of(request)
    with engine.begin() as connection:
        registered = {str(s.id) for s in list_stations(connection)}
        for name in body.stations:
            _check_station(name, registered)
        defaults, stations = body.defaults, dict(body.stations)
        if not principal.unscoped:
            defaults, stations = _within_scope(load_rules(connection), body, principal)
        book = save_rules(connection, defaults=defaults, stations=stations, by=actor)
        record(
            connection,
            actor=actor,
            action="alarm_rules.set",
            target="alarm-rules",
            details={
                "defaults": body.defaults.given(),
                "stations": {k: v.given() for k, v in sorted(body.stations.items())},
            },
        )
        return _out(connection, book, principal)


def _check_station(name: str, registered: set[str]) -> None:
    try:
        parsed = str(StationId.parse(name))
    except (TopicError, ValueError) as exc:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT,
            f"stations: {name[:80]!r} is not SITE/LINE/STATION",
        ) from exc
    if parsed not in registered:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, f"stations: {name} is not a registered station"
        )


def _sees(principal: Principal, station: str) -> bool:
    site, _, rest = station.partition("/")
    return principal.sees(site, rest.partition("/")[0])


def _within_scope(
    stored: RuleBook, body: AlarmRulesIn, principal: Principal
) -> tuple[ThresholdOverrides, dict[str, ThresholdOverrides]]:
    """What a scoped admin's PUT may change: their stations' rows; the rest stays stored."""
    if body.defaults.given() != stored.defaults:
        raise HTTPException(
            status.HTTP_403_FORBIDDEN, "defaults: only an admin of every site may change them"
        )
    kept = {
        name: ThresholdOverrides.model_validate(rules)
        for name, rules in stored.stations.items()
        if not _sees(principal, name)
    }
    for name, overrides in body.stations.items():
        if not _sees(principal, name) and overrides.given() != stored.stations.get(name, {}):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"stations: {name} is outside your scope"
            )
    mine = {name: o for name, o in body.stations.items() if _sees(principal, name)}
    return ThresholdOverrides.model_validate(stored.defaults), {**kept, **mine}


def _out(connection: Connection, book: RuleBook, principal: Principal) -> AlarmRulesOut:
    names = sorted(
        name
        for name in {str(s.id) for s in list_stations(connection)} | set(book.stations)
        if _sees(principal, name)
    )
    return AlarmRulesOut(
        builtin=Thresholds(),
        defaults=book.defaults,
        effective_defaults=book.default(),
        stations=[
            StationRulesOut(
                station=name,
                overrides=book.stations.get(name, {}),
                effective=book.for_station(name),
            )
            for name in names
        ],
        updated_at=book.updated_at,
        updated_by=book.updated_by,
    )
