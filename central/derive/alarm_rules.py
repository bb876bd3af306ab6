"""The alarm thresholds an admin sets: built-in defaults like reader vendors', a site-wide
default row over them, and per-station rows over that.

Kept in ``alarm_rules`` (:mod:`linetrace.central.store.alarm_rule_tables`) so that every
central instance's sweep judges by the same numbers and a change takes effect at the next
sweep without a restart. A station row names only what it overrides: a threshold left
out inherits the default, ``null`` turns that alarm off for the station.

Seq gaps and batch mismatches are alarms the ingest raises on its own (their rules are
``ingest.seq_gap_alarm_after_s`` and the batch checks); the thresholds here are for the
alarms that need a window of events or the clock: read rate, no-reads, a silent station
and a stuck relay.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.engine import Connection

from linetrace.central.store.alarm_rule_tables import DEFAULT_SCOPE, alarm_rules

__all__ = [
    "DEFAULT_SCOPE",
    "NOT_OFF",
    "RuleBook",
    "ThresholdOverrides",
    "Thresholds",
    "load_rules",
    "save_rules",
]

# Thresholds that shape how the others are judged; they cannot be turned off.
NOT_OFF = frozenset({"window_s", "min_events", "hysteresis_pct"})


class Thresholds(BaseModel):
    """A complete set of thresholds; ``None`` turns that alarm off."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    read_rate_min_pct: float | None = Field(
        default=90.0,
        ge=0,
        le=100,
        description="Raise read_rate when good reads fall below this share of passages "
        "(percent) over the window.",
    )
    noread_max_pct: float | None = Field(
        default=10.0,
        ge=0,
        le=100,
        description="Raise noreads when no-reads pass this share of passages (percent).",
    )
    window_s: int = Field(
        default=300, ge=30, le=86_400, description="Seconds of events the rates are taken over."
    )
    min_events: int = Field(
        default=20,
        ge=1,
        le=1_000_000,
        description="Passages a window must hold before its rates are judged.",
    )
    hysteresis_pct: float = Field(
        default=2.0,
        ge=0,
        le=20,
        description="Percentage points a rate must come back past its threshold before "
        "the alarm clears, so a rate hovering at the threshold does not flap.",
    )
    offline_after_s: int | None = Field(
        default=120,
        ge=10,
        le=86_400,
        description="Raise station_offline (key silent) when a station that was seen "
        "sends neither a status nor an event for this many seconds.",
    )
    relay_stuck_after_min: int | None = Field(
        default=15,
        ge=1,
        le=10_080,
        description="Raise relay_stuck when a relay target holds an undelivered event "
        "older than this many minutes (or its circuit breaker is open). Site-wide only.",
    )


class ThresholdOverrides(BaseModel):
    """Some thresholds: those given replace the ones beneath, ``null`` turns one off."""

    # Strict: JSON true is not the number 1, nor "90" the number 90.
    model_config = ConfigDict(extra="forbid", strict=True)

    read_rate_min_pct: float | None = Field(default=None, ge=0, le=100)
    noread_max_pct: float | None = Field(default=None, ge=0, le=100)
    window_s: int | None = Field(default=None, ge=30, le=86_400)
    min_events: int | None = Field(default=None, ge=1, le=1_000_000)
    hysteresis_pct: float | None = Field(default=None, ge=0, le=20)
    offline_after_s: int | None = Field(default=None, ge=10, le=86_400)
    relay_stuck_after_min: int | None = Field(default=None, ge=1, le=10_080)

    @model_validator(mode="after")
    def _shaping_thresholds_stay_on(self) -> ThresholdOverrides:
        for name in sorted(NOT_OFF & self.model_fields_set):
            if getattr(self, name) is None:
                raise ValueError(f"{name} cannot be turned off (null); leave it out to inherit")
        return self

    def given(self) -> dict[str, Any]:
        """Only the thresholds named, as stored."""
        return self.model_dump(exclude_unset=True)


@dataclass(frozen=True, slots=True)
class RuleBook:
    """The stored rules: the default row's and each station's overrides."""

    defaults: dict[str, Any] = field(default_factory=dict)
    stations: dict[str, dict[str, Any]] = field(default_factory=dict)
    updated_at: datetime | None = None
    updated_by: str | None = None

    def default(self) -> Thresholds:
        """The site-wide thresholds: built-in ones with the default row over them."""
        return Thresholds.model_validate({**Thresholds().model_dump(), **self.defaults})

    def for_station(self, station: str) -> Thresholds:
        """The thresholds that apply to ``station`` (SITE/LINE/STATION)."""
        overrides = self.stations.get(station)
        if not overrides:
            return self.default()
        return Thresholds.model_validate({**self.default().model_dump(), **overrides})


def load_rules(conn: Connection) -> RuleBook:
    """The rules as stored (none stored: the built-in defaults)."""
    rows = conn.execute(sa.select(alarm_rules).order_by(alarm_rules.c.scope)).mappings().all()
    defaults: dict[str, Any] = {}
    stations: dict[str, dict[str, Any]] = {}
    latest: sa.RowMapping | None = None
    for row in rows:
        # Rows are validated when written; a key a later version dropped is ignored.
        rules = {k: v for k, v in dict(row["rules"]).items() if k in Thresholds.model_fields}
        if row["scope"] == DEFAULT_SCOPE:
            defaults = rules
        else:
            stations[row["scope"]] = rules
        if latest is None or row["updated_at"] > latest["updated_at"]:
            latest = row
    return RuleBook(
        defaults=defaults,
        stations=stations,
        updated_at=None if latest is None else latest["updated_at"],
        updated_by=None if latest is None else latest["updated_by"],
    )


def save_rules(
    conn: Connection,
    *,
    defaults: ThresholdOverrides,
    stations: Mapping[str, ThresholdOverrides],
    by: str,
    now: datetime | None = None,
) -> RuleBook:
    """Replace every stored rule with these (a station left out inherits the default)."""
    at = now or datetime.now(UTC)
    conn.execute(alarm_rules.delete())
    rows = [{"scope": DEFAULT_SCOPE, "rules": defaults.given()}]
    rows += [
        {"scope": station, "rules": overrides.given()}
        for station, overrides in sorted(stations.items())
        if overrides.given()
    ]
    conn.execute(
        alarm_rules.insert(), [{**row, "updated_at": at, "updated_by": by[:128]} for row in rows]
    )
    return load_rules(conn)
