"""Alarms from silence: a station that has stopped talking, a relay that has stopped
delivering. Neither is an event, so the sweep looks at the clock.

- ``station_offline`` with key ``silent``: an enabled station that was seen (a status or
  an event) has sent neither for ``offline_after_s``. The broker's last will raises the
  same kind with key ``status`` (:mod:`.station_status`); this one also catches a
  station whose network or broker link hangs without the connection dropping. Cleared
  as soon as a status or an event arrives again.
- ``relay_stuck`` (no station; key the target): a relay target holds an event queued or
  sent and not accepted for longer than ``relay_stuck_after_min``, or its circuit
  breaker is open. Cleared when neither holds. The site-wide thresholds apply: a target
  serves every station.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.alarm_rules import RuleBook
from linetrace.central.derive.alarms import clear_alarm, open_alarm_keys, raise_alarm
from linetrace.central.derive.station_status import STATION_OFFLINE
from linetrace.central.store.relay_tables import relay_queue, relay_target_health
from linetrace.central.store.tables import station_progress, station_status, stations

__all__ = ["RELAY_STUCK", "SILENT", "sweep_relay_alarms", "sweep_silence_alarms"]

log = logging.getLogger(__name__)

SILENT = "silent"
RELAY_STUCK = "relay_stuck"


def last_seen(conn: Connection) -> dict[str, datetime]:
    """When central last heard from each enabled station: a status or a stored event."""
    key = (stations.c.site, stations.c.line, stations.c.station)
    rows = conn.execute(
        sa.select(*key, station_status.c.received_at, station_progress.c.updated_at)
        .select_from(
            stations.outerjoin(
                station_status,
                sa.and_(*(station_status.c[c.name] == c for c in key)),
            ).outerjoin(
                station_progress,
                sa.and_(*(station_progress.c[c.name] == c for c in key)),
            )
        )
        .where(stations.c.enabled)
    )
    seen: dict[str, datetime] = {}
    for row in rows:
        times = [t for t in (row.received_at, row.updated_at) if t is not None]
        if times:
            seen[f"{row.site}/{row.line}/{row.station}"] = max(times)
    return seen


def sweep_silence_alarms(conn: Connection, now: datetime, rules: RuleBook) -> tuple[int, int]:
    """Raise ``station_offline``/``silent`` for quiet stations, clear it for heard ones."""
    seen = last_seen(conn)
    already = {s for s, key in open_alarm_keys(conn, STATION_OFFLINE) if key == SILENT}
    raised = cleared = 0
    for name, at in sorted(seen.items()):
        after = rules.for_station(name).offline_after_s
        quiet = now - at
        if after is not None and quiet >= timedelta(seconds=after):
            if name not in already:
                raise_alarm(
                    conn,
                    station=name,
                    kind=STATION_OFFLINE,
                    key=SILENT,
                    severity="critical",
                    message=(
                        f"station {name} is silent: no status or event for "
                        f"{int(quiet.total_seconds())} s (limit {after} s)"
                    ),
                    details={"last_seen_at": at.isoformat(), "offline_after_s": after},
                )
                raised += 1
        elif name in already:
            cleared += clear_alarm(conn, station=name, kind=STATION_OFFLINE, key=SILENT)
    for gone in sorted(s for s in already - set(seen) if s):  # disabled since, or removed
        cleared += clear_alarm(conn, station=gone, kind=STATION_OFFLINE, key=SILENT)
    if raised or cleared:
        log.info("silent station alarms: %s raised, %s cleared", raised, cleared)
    return raised, cleared


def sweep_relay_alarms(conn: Connection, now: datetime, rules: RuleBook) -> tuple[int, int]:
    """Raise ``relay_stuck`` per target with an old undelivered event or an open breaker."""
    after = rules.default().relay_stuck_after_min
    stuck: dict[str, tuple[str, dict[str, object]]] = {}
    if after is not None:
        limit = now - timedelta(minutes=after)
        oldest = conn.execute(
            sa.select(relay_queue.c.target, sa.func.min(relay_queue.c.queued_at))
            .where(relay_queue.c.state.in_(("queued", "sent")))
            .group_by(relay_queue.c.target)
        ).all()
        for target, queued_at in oldest:
            if queued_at is not None and queued_at <= limit:
                age = int((now - queued_at).total_seconds() / 60)
                stuck[target] = (
                    (
                        f"relay target {target} is stuck: an event waits undelivered for "
                        f"{age} min (limit {after} min)"
                    ),
                    {"oldest_undelivered_at": queued_at.isoformat(), "after_min": after},
                )
        for target, breaker, error in conn.execute(
            sa.select(
                relay_target_health.c.target,
                relay_target_health.c.breaker,
                relay_target_health.c.last_error,
            ).where(relay_target_health.c.breaker == "open")
        ):
            stuck.setdefault(
                target,
                (
                    f"relay target {target} is stuck: its circuit breaker is open"
                    + (f" ({str(error).splitlines()[0][:200]})" if error else ""),
                    {"breaker": breaker},
                ),
            )
    already = {key for _station, key in open_alarm_keys(conn, RELAY_STUCK)}
    raised = cleared = 0
    for target, (message, details) in sorted(stuck.items()):
        if target not in already:
            raise_alarm(
                conn, station=None, kind=RELAY_STUCK, key=target, message=message, details=details
            )
            raised += 1
    for target in sorted(already - set(stuck)):
        cleared += clear_alarm(conn, station=None, kind=RELAY_STUCK, key=target)
    return raised, cleared
