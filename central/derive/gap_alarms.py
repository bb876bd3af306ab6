"""Raising ``seq_gap`` alarms for gaps that stay open, and clearing them once filled.

Events of one station may arrive out of order (a resend after a reconnect, two central
instances committing in parallel), so a gap is normal for a moment; only one that stays
open longer than ``ingest.seq_gap_alarm_after_s`` means an event may be lost and the
station's outbox should be looked at. The alarm's key is the first missing seq, so when
that gap fills and a later one remains, the old alarm clears and the later gap gets its
own alarm (once it too has waited long enough).
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.engine import Connection

from linetrace.central.derive.alarms import clear_alarm, open_alarm_keys, raise_alarm
from linetrace.central.derive.progress import Progress, all_progress, open_gaps

__all__ = ["SEQ_GAP", "sweep_gap_alarms"]

log = logging.getLogger(__name__)

SEQ_GAP = "seq_gap"


def sweep_gap_alarms(conn: Connection, now: datetime, open_after: timedelta) -> tuple[int, int]:
    """Raise alarms for gaps open longer than ``open_after``, clear filled ones.

    Returns how many alarms were raised and cleared.
    """
    progress = {str(station): p for station, p in all_progress(conn).items()}
    wanted = {
        station: str(p.watermark + 1)
        for station, p in progress.items()
        if p.behind_since is not None and p.missing and now - p.behind_since >= open_after
    }
    already_open = set(open_alarm_keys(conn, SEQ_GAP))
    cleared = 0
    for station, key in already_open:
        current = progress.get(station or "")
        if current is None or not key.isdigit() or int(key) <= current.watermark:
            cleared += clear_alarm(conn, station=station, kind=SEQ_GAP, key=key)
    raised = 0
    for station, key in sorted(wanted.items()):
        if (station, key) not in already_open:
            _raise(conn, progress[station], key, now)
            raised += 1
    if raised or cleared:
        log.info("seq gap alarms: %s raised, %s cleared", raised, cleared)
    return raised, cleared


def _raise(conn: Connection, progress: Progress, key: str, now: datetime) -> None:
    gaps = open_gaps(conn, progress, limit=5)
    first = gaps[0] if gaps else None
    missing = f"{first.first}..{first.last}" if first else key
    if progress.behind_since is None:
        raise RuntimeError(f"{key}: a gap alarm for a station that is not behind")
    waited = int((now - progress.behind_since).total_seconds())
    raise_alarm(
        conn,
        station=str(progress.station),
        kind=SEQ_GAP,
        key=key,
        message=(
            f"station {progress.station}: seq {missing} missing for {waited} s "
            f"(committed up to {progress.watermark}, seen up to {progress.max_seq_seen})"
        ),
        details={
            "watermark": progress.watermark,
            "max_seq_seen": progress.max_seq_seen,
            "behind_since": progress.behind_since.isoformat(),
            "gaps": [[gap.first, gap.last] for gap in gaps],
        },
    )
