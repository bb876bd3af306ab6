"""``GET /metrics``: central's figures for Prometheus, read at scrape time.

Nothing here runs on the ingest's hot path. The ingest keeps its counts and its two
distributions (:mod:`linetrace.central.ingest.stats`); a scrape takes one snapshot of
them and asks the database a few small grouped questions: the open alarms by kind, the
stations whose watermark waits for a missing seq, and the relay's undelivered queue per
target (over the queue's partial index of undelivered rows) with each target's breaker.
Every metric is named ``linetrace_central_…`` and documented in docs/metrics.md.

An instance that runs the API only (no ingest) exports the database figures alone. When
the database cannot be reached, ``linetrace_central_database_up`` is 0 and the database
figures are left out rather than reported as zero.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime

import sqlalchemy as sa
from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector
from sqlalchemy.engine import Connection, Engine

from linetrace.central.api.deps import EngineDep, IngestDep
from linetrace.central.api.live_hub import LiveCollector
from linetrace.central.auth.guard import public
from linetrace.central.ingest.service import Ingest
from linetrace.central.ingest.stats import DistributionSnapshot
from linetrace.central.store import alarms, station_progress
from linetrace.central.store.relay_tables import relay_queue, relay_target_health

__all__ = ["PREFIX", "CentralCollector", "router"]

log = logging.getLogger(__name__)

PREFIX = "linetrace_central_"
# The relay breaker's states; each target exports 1 for its current one, 0 for the others.
BREAKER_STATES = ("closed", "open", "half-open")
UNDELIVERED = ("queued", "sent")

router = APIRouter(tags=["metrics"], dependencies=[public()])

# The ingest's counters: (IngestStats field, metric name, help).
_COUNTERS = (
    ("received", "ingest_received", "Messages taken off the broker."),
    ("stored", "ingest_stored", "Events stored for the first time."),
    ("duplicates", "ingest_duplicates", "Events already stored (resends), skipped."),
    ("conflicts", "ingest_conflicts", "Events whose event_id came again with other content."),
    ("images_stored", "ingest_images_stored", "No-read pictures stored apart from events."),
    ("images_refused", "ingest_images_refused", "No-read pictures dropped: not a JPEG."),
    ("acked", "ingest_acked", "Messages acknowledged to the broker after their commit."),
    ("stale_acks", "ingest_stale_acks", "Committed messages from an earlier connection."),
    ("dropped", "ingest_dropped", "QoS 0 messages dropped on a full queue."),
    ("acks_published", "ingest_watermarks_published", "Watermarks published on ack topics."),
    ("receiver_restarts", "ingest_receiver_restarts", "Restarts of the MQTT receiver process."),
    ("store_failures", "ingest_store_failures", "Batch writes that failed and were retried."),
)
_GAUGES = (
    ("queued", "ingest_queued", "Messages received and not yet committed (writer queue)."),
    ("connected", "broker_connected", "1 while the ingest is connected to the broker."),
    ("subscribed", "ingest_subscribed", "1 while the events subscription is granted."),
    ("writing", "ingest_writing", "1 while the ingest's writer runs."),
)


class CentralCollector(Collector):
    """One scrape: the ingest's snapshot (when it runs here) and the database's figures."""

    def __init__(self, engine: Engine, ingest: Ingest | None) -> None:
        self._engine = engine
        self._ingest = ingest

    def collect(self) -> Iterator[Metric]:
        if self._ingest is not None:
            yield from _ingest_metrics(self._ingest)
        yield from _database_metrics(self._engine)


@router.get("/metrics", include_in_schema=False)
def metrics(engine: EngineDep, ingest: IngestDep, request: Request) -> Response:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(CentralCollector(engine, ingest))
    registry.register(LiveCollector(getattr(request.app.state, "live_hub", None)))
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)


def _ingest_metrics(ingest: Ingest) -> Iterator[Metric]:
    stats = ingest.stats()
    for field, name, help_text in _COUNTERS:
        yield CounterMetricFamily(PREFIX + name, help_text, value=getattr(stats, field))
    dead = CounterMetricFamily(
        PREFIX + "ingest_dead_lettered",
        "Messages refused into the dead letters, by class of reason.",
        labels=["reason"],
    )
    for reason_class, count in ingest.counters.dead_letters_by_class().items():
        dead.add_metric([reason_class], count)
    yield dead
    for field, name, help_text in _GAUGES:
        yield GaugeMetricFamily(PREFIX + name, help_text, value=float(getattr(stats, field)))
    last = stats.last_commit_at
    yield GaugeMetricFamily(
        PREFIX + "ingest_last_commit_timestamp_seconds",
        "When the last batch was committed (Unix time); NaN before the first.",
        value=last.timestamp() if last is not None else float("nan"),
    )
    yield _histogram(
        "ingest_batch_seconds",
        "Time from the writer taking a batch to its commit (retries included).",
        ingest.counters.batch_seconds.snapshot(),
    )
    yield _histogram(
        "ingest_lag_seconds",
        "Time from an event's observation at its station to its commit here.",
        ingest.counters.lag_seconds.snapshot(),
    )


def _histogram(name: str, help_text: str, snapshot: DistributionSnapshot) -> Metric:
    buckets: list[tuple[str, float]] = []
    running = 0
    for bound, count in zip((*snapshot.bounds, float("inf")), snapshot.counts, strict=True):
        running += count
        buckets.append(("+Inf" if bound == float("inf") else repr(bound), running))
    return HistogramMetricFamily(
        PREFIX + name, help_text, buckets=buckets, sum_value=snapshot.total
    )


def _database_metrics(engine: Engine) -> Iterator[Metric]:
    try:
        with engine.connect() as connection:
            families = list(_database_families(connection, datetime.now(UTC)))
    except sa.exc.SQLAlchemyError as exc:
        log.warning("metrics: the database queries failed: %s", str(exc).splitlines()[0])
        families = []
    yield GaugeMetricFamily(
        PREFIX + "database_up",
        "1 when the scrape's database queries succeeded.",
        value=families != [],
    )
    yield from families


def _database_families(connection: Connection, now: datetime) -> Iterator[Metric]:
    open_alarms = GaugeMetricFamily(
        PREFIX + "alarms_open", "Alarms raised and not cleared, by kind.", labels=["kind"]
    )
    rows = connection.execute(
        sa.select(alarms.c.kind, sa.func.count())
        .where(alarms.c.cleared_at.is_(None))
        .group_by(alarms.c.kind)
    )
    for kind, count in rows:
        open_alarms.add_metric([kind], count)
    yield open_alarms
    progress = station_progress.c
    behind = connection.execute(
        sa.select(
            sa.func.count(),
            sa.func.coalesce(sa.func.sum(progress.max_seq_seen - progress.watermark), 0),
        ).where(progress.max_seq_seen > progress.watermark)
    ).one()
    yield GaugeMetricFamily(
        PREFIX + "stations_behind",
        "Stations whose watermark waits for a missing seq (open gaps).",
        value=behind[0],
    )
    yield GaugeMetricFamily(
        PREFIX + "seqs_above_watermark",
        "Sum over stations of the highest seq seen minus the watermark (an upper bound "
        "of the seqs missing).",
        value=behind[1],
    )
    yield from _relay_families(connection, now)


def _relay_families(connection: Connection, now: datetime) -> Iterator[Metric]:
    queue = relay_queue.c
    undelivered = GaugeMetricFamily(
        PREFIX + "relay_undelivered",
        "Relay queue rows not yet accepted or rejected, by target and state.",
        labels=["target", "state"],
    )
    oldest = GaugeMetricFamily(
        PREFIX + "relay_oldest_undelivered_age_seconds",
        "Age of the oldest undelivered event, by target.",
        labels=["target"],
    )
    health = connection.execute(sa.select(relay_target_health)).mappings().all()
    targets = {row["target"] for row in health}
    rows = connection.execute(
        sa.select(queue.target, queue.state, sa.func.count(), sa.func.min(queue.queued_at))
        .where(queue.state.in_(UNDELIVERED))
        .group_by(queue.target, queue.state)
    ).all()
    counts = {(target, state): count for target, state, count, _ in rows}
    first: dict[str, datetime] = {}
    for target, _, _, queued_at in rows:
        targets.add(target)
        if queued_at is not None and (target not in first or queued_at < first[target]):
            first[target] = queued_at
    for target in sorted(targets):
        for state in UNDELIVERED:
            undelivered.add_metric([target, state], counts.get((target, state), 0))
        age = (now - first[target]).total_seconds() if target in first else 0.0
        oldest.add_metric([target], max(age, 0.0))
    yield undelivered
    yield oldest
    breaker = GaugeMetricFamily(
        PREFIX + "relay_breaker",
        "1 for each target's current breaker state, 0 for the others.",
        labels=["target", "state"],
    )
    failures = GaugeMetricFamily(
        PREFIX + "relay_consecutive_failures",
        "Sends in a row that failed, by target.",
        labels=["target"],
    )
    for row in sorted(health, key=lambda r: r["target"]):
        for state in BREAKER_STATES:
            breaker.add_metric([row["target"], state], float(row["breaker"] == state))
        failures.add_metric([row["target"]], row["consecutive_failures"])
    yield breaker
    yield failures
