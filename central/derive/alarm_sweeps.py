"""The alarms that no single event raises: swept every few seconds by the ingest's writer.

A seq gap is an alarm once it stays open long enough, a burst of dead letters once it
passes a threshold within a window, and a reused seq alarm clears once the station has
been quiet about it for a while: each needs the clock, not an event, so the writer runs
these sweeps on a timer in one transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from linetrace.central.config import IngestSettings
from linetrace.central.derive.alarm_rules import load_rules
from linetrace.central.derive.dead_letter_alarms import sweep_dead_letter_alarms
from linetrace.central.derive.gap_alarms import sweep_gap_alarms
from linetrace.central.derive.presence_alarms import sweep_relay_alarms, sweep_silence_alarms
from linetrace.central.derive.rate_alarms import sweep_rate_alarms
from linetrace.central.derive.seq_reuse import sweep_seq_reuse_alarms

__all__ = ["sweep_alarms"]


def sweep_alarms(
    connection: Connection, now: datetime, ingest: IngestSettings, *, rates: bool = True
) -> None:
    """Raise or clear the ``seq_gap``, ``dead_letters`` and ``seq_reused`` alarms, and
    those an admin sets thresholds for (``read_rate``, ``noreads``, a silent station's
    ``station_offline``, ``relay_stuck``; :mod:`.alarm_rules`). ``rates``: judge the
    read-rate and no-read windows too (the costly part: the caller spaces them out)."""
    sweep_gap_alarms(connection, now, timedelta(seconds=ingest.seq_gap_alarm_after_s))
    sweep_dead_letter_alarms(
        connection,
        now,
        threshold=ingest.dead_letter_alarm_threshold,
        window=timedelta(seconds=ingest.dead_letter_alarm_window_s),
    )
    sweep_seq_reuse_alarms(connection, now, timedelta(seconds=ingest.seq_reuse_alarm_clear_after_s))
    rules = load_rules(connection)
    if rates:
        sweep_rate_alarms(connection, now, rules)
    sweep_silence_alarms(connection, now, rules)
    sweep_relay_alarms(connection, now, rules)
