"""The running edge agent: frames in, durable scan events out, until told to stop.

The capture loop owns the scanner and never touches the network. Each closed passage is
checked against the current batch (:mod:`~linetrace.edge.line.checks`), taken into the decode
margin, grouped under its SSCC at a packing or shipping station (:mod:`~linetrace.edge.line.pack`),
and becomes an event in the outbox (one fsync) and a nudge to the publisher, whose own
threads deliver it, keep the retained status fresh and apply central's watermark. A stop
request (SIGINT/SIGTERM, or the caller's event) ends the loop between frames; the scanner
closes its open passages, waiting pack parents go out, the publisher gets a short grace
period to have central confirm what it can, and everything unconfirmed stays in the
outbox for the next start. Nothing in the outbox is ever dropped on the way out.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from contextlib import ExitStack, closing
from dataclasses import dataclass, replace
from pathlib import Path
from types import FrameType
from typing import TYPE_CHECKING

from pydantic import ValidationError

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.box_config import has_cameras
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.config import EdgeConfig, StationRole, default_client_id, load_config
from linetrace.edge.delivery.metrics import MetricsError, MetricsServer
from linetrace.edge.delivery.outbox import Outbox, OutboxError, OutboxFull
from linetrace.edge.delivery.publisher import Publisher
from linetrace.edge.delivery.status import AgentCounters, CapacityAlarm, StatusBoard
from linetrace.edge.line.checks import batch_checks, failed
from linetrace.edge.line.current_batch import CurrentBatch
from linetrace.edge.line.margin import DecodeMargin
from linetrace.edge.line.pack import PackAssociator
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.settings import DEFAULT_WORKERS
from linetrace.edge.scanner.source_passes import ScanStep, ScanSteps, SourcePlan
from linetrace.errors import BrokerError, ConfigError

if TYPE_CHECKING:
    from linetrace.edge.scanner.shared_pool import SharedPool

__all__ = ["FLUSH_GRACE_S", "AgentSummary", "run_agent", "serve", "stop_on_signals"]

logger = logging.getLogger(__name__)

# How long a stopping agent keeps delivering before it disconnects. systemd allows the
# unit 20 s and the local supervisor 15 s; 5 s has central confirm thousands of events on
# a LAN and leaves the rest of that time for closing the source and the broker session.
FLUSH_GRACE_S = 5.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2

# At start, closed passages are held in memory (never longer than this) until the broker
# has handed over central's retained batch, so the first items are checked against it
# too. A LAN broker connects and answers in well under a second; a broker that is down
# delays the first events by this much, and loses nothing.
BATCH_WAIT_S = 2.0
# The retained batch follows the subscription's confirmation at once; without one within
# this time there is none.
RETAINED_SETTLE_S = 0.2

# Roles at which a code seen with an SSCC is packed in it.
_PACKING_ROLES = frozenset({StationRole.PACKING, StationRole.SHIPPING})


@dataclass(slots=True)
class AgentSummary:
    """What one run did; logged as the agent's last line."""

    seconds: float = 0.0
    frames: int = 0
    passages: int = 0
    stored: int = 0  # events written to the outbox
    lost: int = 0  # passages refused by a full outbox (each logged with its text)
    invalid: int = 0  # passages that made no valid event (each logged with the reason)
    mismatches: int = 0  # reads that failed a batch or expiry check (published anyway)
    packs: int = 0  # pack events among the stored
    first_seq: int | None = None
    last_seq: int | None = None
    acknowledged: int = 0  # events central confirmed (its watermark), deleted from the outbox
    rejected: int = 0  # broker refusals (ACL); those events stay in the outbox
    unrouted: int = 0  # broker had no subscriber; those events stay in the outbox
    left_in_outbox: int = 0
    stopped_by: str = "end of source"

    def line(self) -> str:
        seqs = f"seq {self.first_seq}-{self.last_seq}" if self.first_seq is not None else "none"
        return (
            f"agent stopped ({self.stopped_by}) after {self.seconds:.1f} s: {self.frames} frames, "
            f"{self.passages} passages, {self.stored} events stored ({seqs}, {self.packs} "
            f"packs), {self.mismatches} failing batch checks, {self.lost} lost to a full "
            f"outbox, {self.invalid} invalid, {self.acknowledged} confirmed by central, "
            f"{self.rejected} refused and {self.unrouted} unrouted by the broker, "
            f"{self.left_in_outbox} left in the outbox for the next start"
        )


def run_agent(
    config: EdgeConfig,
    stop_event: threading.Event,
    *,
    flush_grace_s: float = FLUSH_GRACE_S,
    pool: SharedPool | None = None,
) -> AgentSummary:
    """Run until the source ends (without ``source.loop``) or ``stop_event`` is set.

    ``pool`` decodes the frames when the box runs several cameras
    (:mod:`~linetrace.edge.box`); without it the agent starts its own decode workers.

    Raises :class:`SourceError` when the source cannot be opened, :class:`OutboxError`
    when the outbox cannot be written, :class:`BrokerError` for unusable TLS files and
    :class:`MetricsError` when the metrics port cannot be opened; whatever the outbox
    holds stays there.
    """
    started = time.monotonic()
    summary = AgentSummary()
    station = config.station.id
    with ExitStack() as stack:
        outbox = stack.enter_context(
            Outbox(config.outbox.path, station, capacity=config.outbox.capacity)
        )
        scanner = _scanner_for(config, pool)
        recorder = _Recorder(config, outbox, summary)
        board = StatusBoard(
            outbox,
            recorder.alarm,
            recorder.margin,
            recorder.counters,
            recorder.batch,
            scanner.figures,
        )
        publisher = _publisher_for(config, outbox, board, recorder.batch)
        board.publisher = lambda: publisher.stats
        recorder.publisher = publisher
        if config.metrics.port is not None:
            endpoint = MetricsServer(
                station, board.snapshot, port=config.metrics.port, bind=config.metrics.bind
            )
            stack.enter_context(endpoint)
        publisher.start()
        try:
            with closing(scanner.steps(stop_event)) as steps:
                for step in steps:
                    recorder.record(step)
            recorder.flush_held()  # a source shorter than the wait for the batch
        except BaseException:
            summary.stopped_by = "error"
            _store_held_on_failure(recorder)
            raise
        finally:
            _finish(publisher, outbox, summary, flush_grace_s)
            summary.frames = scanner.figures().frames
            summary.seconds = time.monotonic() - started
            if stop_event.is_set() and summary.stopped_by != "error":
                summary.stopped_by = "stop request"
            logger.info("%s: %s", station, summary.line())
    return summary


def _scanner_for(config: EdgeConfig, pool: SharedPool | None) -> ScanSteps:
    source = config.source
    return ScanSteps(
        config.pipeline,
        SourcePlan(
            source.spec, source.realtime, source.loop, config.station.tz, source.start_frame
        ),
        workers=DEFAULT_WORKERS if config.scanner.workers is None else config.scanner.workers,
        capture=config.capture,
        pool=pool,
    )


def _publisher_for(
    config: EdgeConfig, outbox: Outbox, board: StatusBoard, batch: CurrentBatch
) -> Publisher:
    return Publisher(
        outbox,
        config.mqtt,
        client_id=config.mqtt.client_id or default_client_id(config.station.id),
        tz=config.station.tz,
        resend_timeout_s=config.delivery.resend_timeout_s,
        status=board.metrics,
        status_interval_s=config.status.interval_s,
        on_batch=batch.apply,
    )


def _store_held_on_failure(recorder: _Recorder) -> None:
    """Store what was held at start before the failure ends the run, where that works."""
    try:
        recorder.flush_held()
    except OutboxError as exc:
        logger.error("passages held at start not stored: %s", exc)


def _finish(publisher: Publisher, outbox: Outbox, summary: AgentSummary, grace_s: float) -> None:
    """Give central ``grace_s`` to confirm what is stored, then stop the publisher."""
    if not publisher.wait_drained(grace_s):
        logger.warning(
            "%d events not confirmed by central within %.1f s; they stay in %s",
            outbox.depth(),
            grace_s,
            outbox.path,
        )
    publisher.stop()
    stats = publisher.stats
    summary.acknowledged = stats.covered
    summary.rejected, summary.unrouted = stats.rejected, stats.unrouted
    summary.left_in_outbox = outbox.depth()


class _Recorder:
    """Turns passages into stored events: checks, margin, packing; counts what happened."""

    def __init__(self, config: EdgeConfig, outbox: Outbox, summary: AgentSummary) -> None:
        self._outbox = outbox
        self.summary = summary
        self.counters = AgentCounters()
        self.batch = CurrentBatch()
        self.margin = DecodeMargin()
        self.alarm = CapacityAlarm(outbox, config.outbox.alarm_at)
        self.publisher: Publisher | None = None
        self._packer = (
            PackAssociator(config.pack) if config.station.role in _PACKING_ROLES else None
        )
        self._started = time.monotonic()
        self._held: list[ScanStep] | None = []  # None once the batch is known

    def record(self, step: ScanStep) -> None:
        """Store what ``step`` closed (held back at start until the batch is known)."""
        if self._held is None:
            self._record(step)
            return
        self._held.append(step)
        if self._batch_known():
            self.flush_held()

    def flush_held(self) -> None:
        """Store the steps held at start; nothing is held after this."""
        held, self._held = self._held or [], None
        for step in held:
            self._record(step)

    def _batch_known(self) -> bool:
        now = time.monotonic()
        subscribed_at = self.publisher.subscribed_at if self.publisher is not None else None
        return (
            self.batch.heard
            or (subscribed_at is not None and now - subscribed_at >= RETAINED_SETTLE_S)
            or now - self._started >= BATCH_WAIT_S
        )

    def _record(self, step: ScanStep) -> None:
        for passage in step.passages:
            self.summary.passages += 1
            self._store_all(self._pack(self._checked(passage)))
        if self._packer is not None:
            due = self._packer.finish() if step.end_of_pass else self._packer.release_due(step.now)
            self._store_all(due)
            stats = self._packer.stats
            self.counters.packs = stats.packs
            self.counters.pack_children = stats.children
            self.counters.pack_late_children = stats.late_children

    def _checked(self, passage: Passage) -> Passage:
        """The passage with its batch checks; a failure raises the alarm, not a refusal."""
        if passage.kind is not EventKind.READ:
            return passage
        self.margin.add(passage)
        results = batch_checks(passage.gs1, self.batch.announcement, passage.first_seen.date())
        if not results:
            return passage
        problems = failed(results)
        if problems:
            self.counters.mismatches += 1
            self.summary.mismatches += 1
            logger.warning(
                "MISMATCH %s %r seen at %s: %s",
                passage.symbology,
                passage.text,
                passage.first_seen.isoformat(timespec="milliseconds"),
                "; ".join(problems),
            )
        return replace(passage, checks={**passage.checks, **results})

    def _pack(self, passage: Passage) -> list[Passage]:
        return [passage] if self._packer is None else self._packer.add(passage)

    def _store_all(self, passages: Iterable[Passage]) -> None:
        for passage in passages:
            self._store_one(passage)

    def _store_one(self, passage: Passage) -> None:
        try:
            event = self._outbox.append(passage)
        except OutboxFull as exc:
            self.summary.lost += 1
            self.counters.lost += 1
            logger.error(
                "LOST %s %r seen at %s: %s",
                passage.kind,
                passage.text,
                passage.first_seen.isoformat(timespec="milliseconds"),
                exc,
            )
            return
        except ValidationError as exc:
            self.summary.invalid += 1
            self.counters.invalid += 1
            logger.error("passage %r makes no valid event, not stored: %s", passage.text, exc)
            return
        self.summary.stored += 1
        self.counters.stored += 1
        self.summary.packs += event.kind is EventKind.PACK
        if self.summary.first_seq is None:
            self.summary.first_seq = event.seq
        self.summary.last_seq = event.seq
        self.alarm.check()
        if self.publisher is not None:
            self.publisher.nudge()


def stop_on_signals(stop_event: threading.Event) -> Callable[[], None]:
    """Make SIGINT and SIGTERM set ``stop_event``; returns a function that undoes it.

    A second signal while stopping is logged and otherwise ignored: the grace period is
    already short, and cutting it would only leave more in the outbox for next time.
    """
    signals = (signal.SIGINT, signal.SIGTERM)

    def request_stop(number: int, _frame: FrameType | None) -> None:
        name = signal.Signals(number).name
        if stop_event.is_set():
            logger.warning("%s again: still stopping (at most %.0f s)", name, FLUSH_GRACE_S)
        else:
            logger.info("%s: stopping", name)
        stop_event.set()

    previous = {number: signal.signal(number, request_stop) for number in signals}

    def restore() -> None:
        for number, handler in previous.items():
            signal.signal(number, handler)

    return restore


def serve(config_path: Path | None, *, from_frame: int | None = None) -> int:
    """``linetrace edge run``: load the config, run until a signal, return the exit code.

    ``from_frame`` (``--from-frame``) overrides the config's ``source.start_frame``.
    A config with ``[[cameras]]`` runs them all (:func:`linetrace.edge.box.serve_box`).
    """
    if config_path is not None and has_cameras(config_path):
        from linetrace.edge.box import serve_box  # it builds on this module

        return serve_box(config_path, from_frame=from_frame)
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    if from_frame is not None:
        source = config.source.model_copy(update={"start_frame": from_frame})
        config = config.model_copy(update={"source": source})
    stop_event = threading.Event()
    restore = stop_on_signals(stop_event)
    try:
        summary = run_agent(config, stop_event)
    except (SourceError, OutboxError, BrokerError, MetricsError) as exc:
        logger.error("agent stopped: %s", exc)
        return EXIT_FAILED
    finally:
        restore()
    return EXIT_FAILED if summary.lost else EXIT_OK
