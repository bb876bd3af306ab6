"""``read_rate`` and ``noreads`` alarms: a station's share of good reads and of no-reads
over a window of its stored events, judged against its thresholds.

A *passage* is an item the station saw: a ``read``, a ``pack`` or a ``noread`` event. A
*good read* is a read or pack whose code carried a GS1 key (GTIN or SSCC): a decoded
code that is not GS1 lowers the read rate without being a no-read, as on a reader
vendor's dashboard. Rates are judged only once the window holds ``min_events`` passages
(a quiet line says nothing), and with hysteresis: raised below ``read_rate_min_pct``,
cleared only at ``read_rate_min_pct + hysteresis_pct`` or more (no-reads mirror this),
so a rate hovering at its threshold raises one alarm, not a flapping series. A window
with no passage at all clears them (the line stopped; a silent station is the offline
rule's business); a threshold turned off clears its alarm.

One grouped query per distinct window length reads the window through the events index
on ``(site, line, station, observed_at)``.
"""

from __future__ import annotations

import logging
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.alarm_rules import RuleBook, Thresholds
from linetrace.central.derive.alarms import (
    Alarm,
    clear_alarm,
    open_alarms,
    raise_alarm,
    update_alarm,
)
from linetrace.central.store.tables import events, stations

__all__ = ["NOREADS", "READ_RATE", "Window", "sweep_rate_alarms", "window_counts"]

log = logging.getLogger(__name__)

READ_RATE = "read_rate"
NOREADS = "noreads"
_KEY = "window"


@dataclass(frozen=True, slots=True)
class Window:
    """One station's passages within a window."""

    passages: int = 0
    good: int = 0
    noreads: int = 0

    @property
    def read_rate_pct(self) -> float:
        return 100.0 * self.good / self.passages if self.passages else 100.0

    @property
    def noread_pct(self) -> float:
        return 100.0 * self.noreads / self.passages if self.passages else 0.0


def window_counts(conn: Connection, since: datetime, until: datetime) -> dict[str, Window]:
    """Passages per station (SITE/LINE/STATION) observed in ``(since, until]``."""
    good = sa.and_(
        events.c.kind.in_(("read", "pack")),
        sa.or_(events.c.gtin.is_not(None), events.c.sscc.is_not(None)),
    )
    rows = conn.execute(
        sa.select(
            events.c.site,
            events.c.line,
            events.c.station,
            sa.func.count().label("passages"),
            sa.func.sum(sa.case((good, 1), else_=0)).label("good"),
            sa.func.sum(sa.case((events.c.kind == "noread", 1), else_=0)).label("noreads"),
        )
        .where(
            events.c.observed_at > since,
            events.c.observed_at <= until,
            events.c.kind.in_(("read", "pack", "noread")),
        )
        .group_by(events.c.site, events.c.line, events.c.station)
    )
    return {
        f"{r.site}/{r.line}/{r.station}": Window(
            int(r.passages), int(r.good or 0), int(r.noreads or 0)
        )
        for r in rows
    }


def sweep_rate_alarms(conn: Connection, now: datetime, rules: RuleBook) -> tuple[int, int]:
    """Raise, refresh and clear every station's rate alarms; return (raised, cleared)."""
    names = _station_names(conn)
    already = {
        kind: {a.station: a for a in open_alarms(conn, kind, lock=True)}
        for kind in (READ_RATE, NOREADS)
    }
    names |= {str(s) for by_station in already.values() for s in by_station if s}
    thresholds = {name: rules.for_station(name) for name in names}
    by_window: dict[int, list[str]] = defaultdict(list)
    for name, rule in thresholds.items():
        by_window[rule.window_s].append(name)
    raised = cleared = 0
    for window_s, members in sorted(by_window.items()):
        counts = window_counts(conn, now - timedelta(seconds=window_s), now)
        for name in sorted(members):
            window, rule = counts.get(name, Window()), thresholds[name]
            for kind in (READ_RATE, NOREADS):
                change = _judge(conn, name, kind, window, rule, already[kind].get(name))
                raised += change == "raised"
                cleared += change == "cleared"
    if raised or cleared:
        log.info("rate alarms: %s raised, %s cleared", raised, cleared)
    return raised, cleared


def _station_names(conn: Connection) -> set[str]:
    rows = conn.execute(
        sa.select(stations.c.site, stations.c.line, stations.c.station).where(stations.c.enabled)
    )
    return {f"{r.site}/{r.line}/{r.station}" for r in rows}


def _judge(
    conn: Connection, name: str, kind: str, window: Window, rule: Thresholds, alarm: Alarm | None
) -> str | None:
    """Raise, refresh or clear one alarm; say which."""
    state = _state(kind, window, rule)
    if alarm is None and state == "bad":
        raise_alarm(
            conn,
            station=name,
            kind=kind,
            key=_KEY,
            message=_message(name, kind, window, rule),
            details=_details(kind, window, rule),
        )
        log.warning("%s", _message(name, kind, window, rule))
        return "raised"
    if alarm is not None and state == "good":
        return "cleared" if clear_alarm(conn, station=name, kind=kind, key=_KEY) else None
    if alarm is not None and window.passages >= rule.min_events:
        details = _details(kind, window, rule)
        if alarm.details != details:
            update_alarm(
                conn, alarm.id, message=_message(name, kind, window, rule), details=details
            )
    return None


def _state(kind: str, window: Window, rule: Thresholds) -> str:
    """``bad`` (raise), ``good`` (clear) or ``between`` (leave as it is)."""
    limit = rule.read_rate_min_pct if kind == READ_RATE else rule.noread_max_pct
    if limit is None or window.passages == 0:
        return "good"
    if window.passages < rule.min_events:
        return "between"
    if kind == READ_RATE:
        rate = window.read_rate_pct
        if rate < limit:
            return "bad"
        return "good" if rate >= min(100.0, limit + rule.hysteresis_pct) else "between"
    share = window.noread_pct
    if share > limit:
        return "bad"
    return "good" if share <= max(0.0, limit - rule.hysteresis_pct) else "between"


def _details(kind: str, window: Window, rule: Thresholds) -> dict[str, float | int | None]:
    rate = window.read_rate_pct if kind == READ_RATE else window.noread_pct
    limit = rule.read_rate_min_pct if kind == READ_RATE else rule.noread_max_pct
    return {
        "rate_pct": round(rate, 1),
        "threshold_pct": limit,
        "hysteresis_pct": rule.hysteresis_pct,
        "passages": window.passages,
        "good": window.good,
        "noreads": window.noreads,
        "window_s": rule.window_s,
    }


def _message(name: str, kind: str, window: Window, rule: Thresholds) -> str:
    minutes = f"{rule.window_s / 60:g} min"
    if kind == READ_RATE:
        return (
            f"station {name}: read rate {window.read_rate_pct:.1f} % over the last {minutes} "
            f"({window.good} good of {window.passages}), below {rule.read_rate_min_pct:g} %"
        )
    return (
        f"station {name}: {window.noread_pct:.1f} % no-reads over the last {minutes} "
        f"({window.noreads} of {window.passages}), above {rule.noread_max_pct:g} %"
    )
