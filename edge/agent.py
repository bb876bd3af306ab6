"""The running edge agent: frames in, durable scan events out, until told to stop.

The capture loop owns the source and the pipeline and never touches the network: each
closed passage becomes an event in the outbox (one fsync) and a nudge to the publisher,
whose own threads deliver it. A stop request (SIGINT/SIGTERM, or the caller's event) ends
the loop between frames; the pipeline closes its open passages, the publisher gets a
short grace period to deliver what it can, and everything still unacknowledged stays in
the outbox for the next start. Nothing in the outbox is ever dropped on the way out.
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

from pydantic import ValidationError

from linetrace.edge.config import ConfigError, EdgeConfig, default_client_id, load_config
from linetrace.edge.model import Passage
from linetrace.edge.outbox import Outbox, OutboxError, OutboxFull
from linetrace.edge.pipeline import ScanPipeline
from linetrace.edge.publish import BrokerError, Publisher
from linetrace.edge.sources import SourceError, open_source

__all__ = ["FLUSH_GRACE_S", "AgentSummary", "run_agent", "serve", "stop_on_signals"]

logger = logging.getLogger(__name__)

# How long a stopping agent keeps delivering before it disconnects. systemd allows the
# unit 20 s and the local supervisor 15 s; 5 s drains thousands of events on a LAN and
# leaves the rest of that time for closing the source and the broker session.
FLUSH_GRACE_S = 5.0

EXIT_OK = 0
EXIT_FAILED = 1
EXIT_CONFIG = 2


@dataclass(slots=True)
class AgentSummary:
    """What one run did; logged as the agent's last line."""

    seconds: float = 0.0
    frames: int = 0
    passages: int = 0
    stored: int = 0  # events written to the outbox
    lost: int = 0  # passages refused by a full outbox (each logged with its text)
    invalid: int = 0  # passages that made no valid event (each logged with the reason)
    first_seq: int | None = None
    last_seq: int | None = None
    acknowledged: int = 0
    rejected: int = 0  # broker refusals (ACL); those events stay in the outbox
    unrouted: int = 0  # broker had no subscriber; those events stay in the outbox
    left_in_outbox: int = 0
    stopped_by: str = "end of source"

    def line(self) -> str:
        seqs = f"seq {self.first_seq}-{self.last_seq}" if self.first_seq is not None else "none"
        return (
            f"agent stopped ({self.stopped_by}) after {self.seconds:.1f} s: {self.frames} frames, "
            f"{self.passages} passages, {self.stored} events stored ({seqs}), {self.lost} lost "
            f"to a full outbox, {self.invalid} invalid, {self.acknowledged} acknowledged, "
            f"{self.rejected} refused and {self.unrouted} unrouted by the broker, "
            f"{self.left_in_outbox} left in the outbox "
            "for the next start"
        )


def run_agent(
    config: EdgeConfig, stop_event: threading.Event, *, flush_grace_s: float = FLUSH_GRACE_S
) -> AgentSummary:
    """Run until the source ends (without ``source.loop``) or ``stop_event`` is set.

    Raises :class:`SourceError` when the source cannot be opened, :class:`OutboxError`
    when the outbox cannot be written and :class:`BrokerError` for unusable TLS files;
    whatever the outbox holds stays there.
    """
    started = time.monotonic()
    summary = AgentSummary()
    station = config.station.id
    with Outbox(config.outbox.path, station, capacity=config.outbox.capacity) as outbox:
        publisher = Publisher(
            outbox,
            config.mqtt,
            client_id=config.mqtt.client_id or default_client_id(station),
            tz=config.station.tz,
        )
        publisher.start()
        try:
            _capture(config, stop_event, _Storing(outbox, publisher, summary))
        except BaseException:
            summary.stopped_by = "error"
            raise
        finally:
            if not publisher.wait_drained(flush_grace_s):
                logger.warning(
                    "%d events not acknowledged within %.1f s; they stay in %s",
                    outbox.depth(),
                    flush_grace_s,
                    outbox.path,
                )
            publisher.stop()
            stats = publisher.stats
            summary.acknowledged = stats.acknowledged
            summary.rejected, summary.unrouted = stats.rejected, stats.unrouted
            summary.left_in_outbox = outbox.depth()
            summary.seconds = time.monotonic() - started
            if stop_event.is_set() and summary.stopped_by != "error":
                summary.stopped_by = "stop request"
            logger.info("%s", summary.line())
    return summary


class _Storing:
    """Turns passages into stored events and tells the publisher; counts what happened."""

    def __init__(self, outbox: Outbox, publisher: Publisher, summary: AgentSummary) -> None:
        self._outbox = outbox
        self._publisher = publisher
        self.summary = summary

    def store(self, passages: Iterable[Passage]) -> None:
        for passage in passages:
            self.summary.passages += 1
            self._store_one(passage)

    def _store_one(self, passage: Passage) -> None:
        try:
            event = self._outbox.append(passage)
        except OutboxFull as exc:
            self.summary.lost += 1
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
            logger.error("passage %r makes no valid event, not stored: %s", passage.text, exc)
            return
        self.summary.stored += 1
        if self.summary.first_seq is None:
            self.summary.first_seq = event.seq
        self.summary.last_seq = event.seq
        self._publisher.nudge()


def _capture(config: EdgeConfig, stop_event: threading.Event, storing: _Storing) -> None:
    """Feed frames through a pipeline into the outbox, one pass of the source at a time."""
    while not stop_event.is_set():
        # A fresh pipeline per pass: a replayed file's media time starts again at zero,
        # which a tracker that carried over would read as time running backwards.
        pipeline = ScanPipeline(config.pipeline)
        with open_source(
            config.source.spec, realtime=config.source.realtime, utc_offset=config.station.tz
        ) as source:
            logger.info("capturing from %s", source.description)
            for frame in source:
                storing.store(pipeline.feed(frame))
                if stop_event.is_set():
                    break
        storing.store(pipeline.finish())
        storing.summary.frames += pipeline.stats.frames
        if not config.source.loop:
            return
        if pipeline.stats.frames == 0:
            raise SourceError(f"{source.description} gave no frames; not looping over nothing")
        logger.info("%s ended; playing it again (source.loop)", source.description)


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


def serve(config_path: Path | None) -> int:
    """``linetrace edge run``: load the config, run until a signal, return the exit code."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        logger.error("%s", exc)
        return EXIT_CONFIG
    stop_event = threading.Event()
    restore = stop_on_signals(stop_event)
    try:
        summary = run_agent(config, stop_event)
    except (SourceError, OutboxError, BrokerError) as exc:
        logger.error("agent stopped: %s", exc)
        return EXIT_FAILED
    finally:
        restore()
    return EXIT_FAILED if summary.lost else EXIT_OK
