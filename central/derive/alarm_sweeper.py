"""The alarm sweeps on a thread of their own, beside the ingest's writer.

The sweeps read windows of stored events (the read-rate rules cost ~350 ms on PostgreSQL
at 50 stations x 20 events/s); run in the writer, every sweep held up the next batch's
commit and acknowledgement. Here they take their own connection and transaction, so the
writer only ever waits on its own work. Several central replicas each sweep: raising
and clearing are idempotent per alarm key (:mod:`.alarms`).

The same thread prunes the dashboard's old minute counts (:mod:`.station_minutes`) every
:data:`PRUNE_EVERY_S`: one indexed range delete, harmless when several replicas run it.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.config import IngestSettings
from linetrace.central.derive.alarm_sweeps import sweep_alarms
from linetrace.central.derive.station_minutes import prune_minutes

__all__ = ["PRUNE_EVERY_S", "RATE_SWEEP_EVERY_S", "SWEEP_EVERY_S", "AlarmSweeper"]

log = logging.getLogger(__name__)

# A few seconds is nothing against a gap alarm threshold of a minute, and a few small
# queries per station table every few seconds are nothing for the database.
SWEEP_EVERY_S = 2.0
# Rate alarms read a window of events: judged less often than the cheap sweeps.
RATE_SWEEP_EVERY_S = 15.0
# Minute counts are kept for two days: pruning a few minutes' rows at a time is plenty.
PRUNE_EVERY_S = 600.0


class AlarmSweeper:
    """Sweep every :data:`SWEEP_EVERY_S` (rates every :data:`RATE_SWEEP_EVERY_S`) until stopped."""

    def __init__(self, engine: Engine, settings: IngestSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="alarm-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        if self._thread.is_alive():
            self._thread.join(timeout)

    def sweep(self, *, rates: bool) -> bool:
        """One sweep in its own transaction; False (logged) when the database failed it."""
        try:
            with self._engine.begin() as connection:
                sweep_alarms(connection, datetime.now(UTC), self._settings, rates=rates)
        except sa.exc.SQLAlchemyError as exc:
            log.warning("alarm sweep failed: %s", str(exc).splitlines()[0] if str(exc) else exc)
            return False
        return True

    def prune(self) -> bool:
        """Delete the minute counts past their keep, in its own transaction; False on failure."""
        try:
            with self._engine.begin() as connection:
                prune_minutes(connection, datetime.now(UTC))
        except sa.exc.SQLAlchemyError as exc:
            log.warning(
                "pruning minute counts failed: %s", str(exc).splitlines()[0] if str(exc) else exc
            )
            return False
        return True

    def _run(self) -> None:
        next_rates = next_prune = time.monotonic()
        while not self._stopping.is_set():
            rates = time.monotonic() >= next_rates
            try:
                if self.sweep(rates=rates) and rates:
                    next_rates = time.monotonic() + RATE_SWEEP_EVERY_S
                if time.monotonic() >= next_prune:
                    next_prune = time.monotonic() + PRUNE_EVERY_S  # failed or not: next time
                    self.prune()
            except Exception:
                # A bug in one rule must not end alarm sweeping for good: log and go on.
                log.exception("alarm sweep raised")
            self._stopping.wait(SWEEP_EVERY_S)
