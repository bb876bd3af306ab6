"""Telling the stations which batch their line is packing: retained ``batch`` messages.

The database is the truth; the broker's retained messages are a copy that can go stale:
a batch started from the CLI (another process) or by another central instance, a station
that first appears while a batch runs, a broker that restarts from an old persistence
file. So rather than publishing once per change, the announcer reconciles: it computes
what every station of every line that ever ran a batch should have retained (the open
batch's :class:`BatchAnnouncement`, or an empty payload to clear it) and publishes what
differs from what it last published on this connection. It does so after every change
made through this process's API (woken at once), every few seconds, and in full after
every (re)connect of central's MQTT client, when it no longer knows what the broker holds.

Stations of a line: those registered, plus any that sent events on the line.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.central.derive.production_batches import list_batches
from linetrace.central.store.tables import stations
from linetrace.central.store.trace_tables import batches

if TYPE_CHECKING:
    from linetrace.central.ingest.service import Ingest

__all__ = ["RECONCILE_EVERY_S", "BatchAnnouncer", "desired_announcements", "line_stations"]

log = logging.getLogger(__name__)

# A batch started from the CLI, or a station new on a line, gets its announcement within
# this many seconds; a pass is a few indexed queries on small tables, cheap at this rate.
RECONCILE_EVERY_S = 5.0
# Stopping waits this long for a pass in progress (queries of milliseconds) to finish.
_STOP_TIMEOUT_S = 5.0

# The distinct stations of a line without reading all its events: a loose index scan
# (one index seek per station) over the events index on (site, line, station, ...).
_STATIONS_SEEN = sa.text(
    """
    WITH RECURSIVE seen(station) AS (
        SELECT min(station) FROM events WHERE site = :site AND line = :line
        UNION ALL
        SELECT (
            SELECT min(e.station) FROM events e
            WHERE e.site = :site AND e.line = :line AND e.station > seen.station
        )
        FROM seen WHERE seen.station IS NOT NULL
    )
    SELECT station FROM seen WHERE station IS NOT NULL
    """
)

Publish = Callable[[str, bytes], bool]
"""Publish a retained message; False when it could not be sent (not connected)."""


def line_stations(connection: Connection, site: str, line: str) -> list[str]:
    """The stations of a line: registered ones and those seen in its events."""
    registered = connection.execute(
        sa.select(stations.c.station).where(stations.c.site == site, stations.c.line == line)
    ).scalars()
    seen = connection.execute(_STATIONS_SEEN, {"site": site, "line": line}).scalars()
    return sorted(set(registered) | set(seen))


def desired_announcements(connection: Connection) -> dict[str, bytes]:
    """Topic -> retained payload for every station of every line that ever ran a batch."""
    open_by_line = {batch.site_line: batch for batch in list_batches(connection, state="open")}
    lines = connection.execute(sa.select(batches.c.site, batches.c.line).distinct()).all()
    desired: dict[str, bytes] = {}
    for site, line in lines:
        batch = open_by_line.get((site, line))
        payload = batch.announcement().to_payload() if batch is not None else b""
        for station in line_stations(connection, site, line):
            desired[topic(StationId(site, line, station), Channel.BATCH)] = payload
    return desired


class BatchAnnouncer:
    """Keeps every station's retained batch message equal to its line's open batch."""

    def __init__(
        self, engine: Engine, publish: Publish, *, every_s: float = RECONCILE_EVERY_S
    ) -> None:
        self._engine = engine
        self._publish = publish
        self._every_s = every_s
        self._published: dict[str, bytes] = {}  # the thread's alone
        self._wake = threading.Event()
        self._forget = threading.Event()
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="central-batch-announcer")

    @classmethod
    def attach(cls, ingest: Ingest, engine: Engine) -> BatchAnnouncer:
        """An announcer publishing on the ingest's connection, started, told of connects."""
        announcer = cls(engine, ingest.publish_retained)
        ingest.add_connect_listener(announcer.reconnected)
        announcer.start()
        return announcer

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        self._wake.set()
        self._thread.join(_STOP_TIMEOUT_S)

    def wake(self) -> None:
        """Reconcile now: a batch was started or closed."""
        self._wake.set()

    def reconnected(self) -> None:
        """Publish everything again: the broker's retained state is unknown after a connect.

        Called from the MQTT network thread, so it only flags the work for the announcer's
        own thread, which may query the database without stalling the connection.
        """
        self._forget.set()
        self._wake.set()

    def reconcile(self) -> int:
        """Publish the announcements that differ from the last published; return how many."""
        if self._forget.is_set():
            self._forget.clear()
            self._published.clear()
        with self._engine.connect() as connection:
            desired = desired_announcements(connection)
        sent = 0
        for name, payload in sorted(desired.items()):
            if self._published.get(name) == payload:
                continue
            if not self._publish(name, payload):
                log.debug("batch announcement on %s not sent; next pass retries", name)
                continue
            self._published[name] = payload
            sent += 1
        if sent:
            log.info("published %s batch announcements", sent)
        return sent

    def _run(self) -> None:
        while not self._stopping.is_set():
            self._wake.wait(self._every_s)
            self._wake.clear()
            if self._stopping.is_set():
                return
            try:
                self.reconcile()
            except sa.exc.SQLAlchemyError as exc:
                reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[:1]
                log.warning("batch announcements not reconciled: %s", reason)
