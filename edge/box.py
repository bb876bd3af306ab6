"""Several cameras on one box, in one process: one agent per camera, one decode pool.

``linetrace edge run`` with a config that lists ``[[cameras]]``
(:mod:`~linetrace.edge.box_config`) runs each camera's station as the one-camera agent
does (:func:`~linetrace.edge.agent.run_agent`: its own capture process, scanner,
outbox, publisher and status), each in a thread of its own, and decodes every camera's
frames in one :class:`~linetrace.edge.scanner.shared_pool.SharedPool`. One process rather
than one per camera because the pool is then plain shared memory and pipes, and
because tracking and delivery cost little next to decoding, which runs in the pool's
processes anyway. A camera that fails (its source cannot be opened, its outbox cannot be
written) stops alone, logged at ERROR with its station, and its broker status goes
offline; the others keep running, and the exit status says one failed. A stop request
stops every camera, each flushing to central as a lone agent would, at the same time.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from linetrace.broker.contract.topics import StationId
from linetrace.edge.agent import (
    EXIT_CONFIG,
    EXIT_FAILED,
    EXIT_OK,
    FLUSH_GRACE_S,
    AgentSummary,
    run_agent,
    stop_on_signals,
)
from linetrace.edge.box_config import load_stations
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.config import EdgeConfig
from linetrace.edge.delivery.metrics import MetricsError
from linetrace.edge.delivery.outbox import OutboxError
from linetrace.edge.scanner.settings import DEFAULT_WORKERS, ScannerConfig
from linetrace.edge.scanner.shared_pool import SharedPool
from linetrace.errors import BrokerError, ConfigError

__all__ = ["CameraRun", "run_box", "serve_box"]

logger = logging.getLogger(__name__)

# How often the main thread looks up from waiting on the cameras (signals run meanwhile).
_JOIN_TICK_S = 0.5


@dataclass(slots=True)
class CameraRun:
    """How one camera's station ended: its summary, or the error that stopped it."""

    station: StationId
    summary: AgentSummary | None = None
    error: BaseException | None = None

    @property
    def failed(self) -> bool:
        return self.error is not None or self.summary is None or self.summary.lost > 0


def run_box(
    stations: list[EdgeConfig],
    scanner: ScannerConfig,
    stop_event: threading.Event,
    *,
    flush_grace_s: float = FLUSH_GRACE_S,
) -> list[CameraRun]:
    """Run every station until its source ends or ``stop_event`` is set; one run each.

    ``scanner.workers`` decode processes serve every camera (0 reads in each camera's own
    scanner thread instead, for a one-core box).
    """
    if not stations:
        raise ValueError("a box needs at least one camera")
    runs = [CameraRun(config.station.id) for config in stations]
    workers = DEFAULT_WORKERS if scanner.workers is None else scanner.workers
    pool = SharedPool(stations[0].pipeline, workers) if workers > 0 else None
    try:
        threads = [
            threading.Thread(
                target=_run_one,
                args=(config, run, stop_event, flush_grace_s, pool),
                name=f"linetrace-{run.station}",
            )
            for config, run in zip(stations, runs, strict=True)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            while thread.is_alive():
                thread.join(_JOIN_TICK_S)
    finally:
        if pool is not None:
            pool.close()
    return runs


def _run_one(
    config: EdgeConfig,
    run: CameraRun,
    stop_event: threading.Event,
    flush_grace_s: float,
    pool: SharedPool | None,
) -> None:
    try:
        run.summary = run_agent(config, stop_event, flush_grace_s=flush_grace_s, pool=pool)
    except (SourceError, OutboxError, BrokerError, MetricsError) as exc:
        run.error = exc
        logger.error("station %s stopped (the other cameras go on): %s", run.station, exc)
    except BaseException as exc:  # a bug: keep its traceback, stop this camera only
        run.error = exc
        logger.exception("station %s failed", run.station)


def serve_box(config_path: Path, *, from_frame: int | None = None) -> int:
    """``linetrace edge run`` with ``[[cameras]]``: every camera until a signal; the exit code.

    ``from_frame`` starts every camera's file source at that frame.
    """
    try:
        stations, scanner = load_stations(config_path)
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    if from_frame is not None:
        stations = [
            config.model_copy(
                update={"source": config.source.model_copy(update={"start_frame": from_frame})}
            )
            for config in stations
        ]
    logger.info("one box, %d cameras: %s", len(stations), ", ".join(
        str(config.station.id) for config in stations))  # fmt: skip
    stop_event = threading.Event()
    restore = stop_on_signals(stop_event)
    try:
        runs = run_box(stations, scanner or ScannerConfig(), stop_event)
    finally:
        restore()
    return EXIT_FAILED if any(run.failed for run in runs) else EXIT_OK
