"""The station's figures, gathered in one place for the status message and the metrics.

Every figure is a field of :class:`StationFigures` with its kind (a counter since start or
a gauge) and a one-line help text; the retained status message carries them by field
name and the Prometheus endpoint exports the same snapshot, so the two never disagree.
A figure nobody can know yet (a read rate before the first read, a decode margin the
decoder does not report) is left out of the status message and exported as NaN.

:class:`CapacityAlarm` watches the outbox's fill: crossing ``alarm_at`` of its capacity is
logged once as a warning (and once more, at info, when it falls back), and flagged in
both outputs until then.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, fields
from typing import Literal

from linetrace.edge.delivery.link_state import PublisherStats
from linetrace.edge.delivery.outbox import Outbox, OutboxError
from linetrace.edge.line.current_batch import CurrentBatch
from linetrace.edge.line.margin import DecodeMargin
from linetrace.edge.scanner.figures import ScanFigures

__all__ = [
    "AgentCounters",
    "CapacityAlarm",
    "Figure",
    "StationFigures",
    "StatusBoard",
    "percentile",
]

logger = logging.getLogger(__name__)

Kind = Literal["counter", "gauge"]


def _figure(kind: Kind, help_text: str) -> float | None:
    value: float | None = field(default=None, metadata={"kind": kind, "help": help_text})
    return value


@dataclass(slots=True)
class AgentCounters:
    """What the agent itself counts, written by the capture loop only."""

    stored: int = 0
    lost: int = 0
    invalid: int = 0
    mismatches: int = 0  # reads that failed a batch or expiry check
    packs: int = 0
    pack_children: int = 0
    pack_late_children: int = 0


@dataclass(frozen=True, slots=True)
class StationFigures:
    """One snapshot of every figure; see the module docstring."""

    frames: float | None = _figure("counter", "Frames decoded.")
    fps_captured: float | None = _figure("gauge", "Frames captured per second.")
    fps_decoded: float | None = _figure("gauge", "Frames decoded per second.")
    dropped_frames: float | None = _figure("counter", "Frames dropped by the capture side.")
    corrupt_frames: float | None = _figure(
        "counter", "Pictures the camera sent that did not decode, skipped."
    )
    camera_alarm: float | None = _figure(
        "gauge", "1 from a camera failure or stall until frames flow again."
    )
    camera_failures: float | None = _figure(
        "counter", "Camera failures, stalls and failed attempts to reopen it."
    )
    camera_reconnects: float | None = _figure("counter", "Times the camera was reopened.")
    decode_ms_p50: float | None = _figure("gauge", "Median decode time per frame, ms.")
    decode_ms_p99: float | None = _figure("gauge", "99th percentile decode time per frame, ms.")
    queue_depth: float | None = _figure("gauge", "Frames waiting for a decoder.")
    reads: float | None = _figure("counter", "Item passages read.")
    noreads: float | None = _figure("counter", "Item passages located but never decoded.")
    read_rate: float | None = _figure("gauge", "reads / (reads + noreads) since start.")
    rejected: float | None = _figure("counter", "Passages refused by a GS1 check.")
    misreads: float | None = _figure("counter", "Passages dropped as misreads.")
    second_reads: float | None = _figure(
        "counter", "Independent second reads that confirmed a linear code no other frame read."
    )
    disputes: float | None = _figure(
        "counter", "Independent second reads that read another code: the read not confirmed."
    )
    mismatches: float | None = _figure("counter", "Reads that failed a batch or expiry check.")
    batch_open: float | None = _figure("gauge", "1 while central announces a batch.")
    packs: float | None = _figure("counter", "Pack events made.")
    pack_children: float | None = _figure("counter", "Children in pack events.")
    pack_late_children: float | None = _figure(
        "counter", "Children that closed after their pack event went out."
    )
    stored: float | None = _figure("counter", "Events stored in the outbox.")
    lost: float | None = _figure("counter", "Events lost to a full outbox.")
    invalid: float | None = _figure("counter", "Passages that made no valid event.")
    outbox_depth: float | None = _figure("gauge", "Events central has not confirmed.")
    outbox_fill: float | None = _figure("gauge", "Outbox depth as a share of its capacity.")
    outbox_alarm: float | None = _figure("gauge", "1 while the outbox is past its alarm level.")
    outbox_oldest_age_s: float | None = _figure(
        "gauge", "Age of the oldest unconfirmed event, seconds."
    )
    connected: float | None = _figure("gauge", "1 while connected to the broker.")
    last_stored_seq: float | None = _figure("gauge", "Seq of the last event stored.")
    watermark: float | None = _figure(
        "gauge", "Last acknowledged seq: the highest central confirmed."
    )
    published: float | None = _figure("counter", "Events published, resends included.")
    resent: float | None = _figure("counter", "Events published again.")
    broker_acknowledged: float | None = _figure("counter", "Events the broker took (PUBACK).")
    covered: float | None = _figure("counter", "Events central confirmed (deleted).")
    uncovered: float | None = _figure("gauge", "Events the broker took, central not yet.")
    broker_refused: float | None = _figure("counter", "Events the broker refused.")
    unrouted: float | None = _figure("counter", "Events the broker had no subscriber for.")
    frames_to_first_read: float | None = _figure(
        "gauge", "Rolling mean of frames in view before the first read."
    )
    ec_used: float | None = _figure("gauge", "Rolling mean share of error correction used.")

    def as_metrics(self) -> dict[str, float]:
        """The status message's figures: every known value, by name."""
        return {name: value for name, value, _ in self.described() if value is not None}

    def described(self) -> Iterator[tuple[str, float | None, Figure]]:
        """``(name, value, figure)`` for every field, in declaration order."""
        for item in fields(self):
            value = getattr(self, item.name)
            yield item.name, value, Figure(item.metadata["kind"], item.metadata["help"])


@dataclass(frozen=True, slots=True)
class Figure:
    kind: Kind
    help: str


def percentile(values: list[float], share: float) -> float | None:
    """The nearest-rank percentile (``share`` in 0..1) of ``values``; None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(share * len(ordered)))
    return ordered[rank - 1]


class CapacityAlarm:
    """Raised while the outbox holds ``alarm_at`` of its capacity or more."""

    def __init__(self, outbox: Outbox, alarm_at: float) -> None:
        self._outbox = outbox
        self._alarm_at = alarm_at
        self._lock = threading.Lock()
        self._raised = False

    @property
    def raised(self) -> bool:
        with self._lock:
            return self._raised

    def check(self) -> bool:
        """Compare the fill with the alarm level, logging a change; returns the state."""
        fill = self._outbox.fill
        raised = fill is not None and fill >= self._alarm_at
        with self._lock:
            changed, self._raised = raised != self._raised, raised
        if changed and raised:
            logger.warning(
                "outbox %s is %.0f%% full (%d of %s events; alarm at %.0f%%): central has "
                "not confirmed them; new events are lost once it is full",
                self._outbox.path,
                100 * (fill or 0.0),
                self._outbox.depth(),
                self._outbox.capacity,
                100 * self._alarm_at,
            )
        elif changed:
            logger.info("outbox %s is below its alarm level again", self._outbox.path)
        return raised


class StatusBoard:
    """Gathers the figures from their owners, at the moment someone asks."""

    def __init__(
        self,
        outbox: Outbox,
        alarm: CapacityAlarm,
        margin: DecodeMargin,
        counters: AgentCounters,
        batch: CurrentBatch,
        scan: Callable[[], ScanFigures],
    ) -> None:
        self._outbox = outbox
        self._batch = batch
        self._alarm = alarm
        self._margin = margin
        self._counters = counters
        self._scan = scan
        self.publisher: Callable[[], PublisherStats] | None = None

    def snapshot(self) -> StationFigures:
        scan = self._scan()
        counters = self._counters
        margin = self._margin.figures()
        try:
            oldest_age = self._outbox.oldest_age
        except OutboxError as exc:
            logger.warning("outbox age unknown: %s", exc)
            oldest_age = None
        try:
            last_seq: int | None = self._outbox.last_seq
        except OutboxError as exc:
            logger.warning("last stored seq unknown: %s", exc)
            last_seq = None
        seen = scan.reads + scan.noreads
        return StationFigures(
            frames=scan.frames,
            fps_captured=scan.fps_captured,
            fps_decoded=scan.fps_decoded,
            dropped_frames=scan.dropped_frames,
            corrupt_frames=scan.corrupt_frames,
            camera_alarm=float(scan.camera_alarm),
            camera_failures=scan.source_failures,
            camera_reconnects=scan.reconnects,
            decode_ms_p50=scan.decode_ms_p50,
            decode_ms_p99=scan.decode_ms_p99,
            queue_depth=scan.queue_depth,
            reads=scan.reads,
            noreads=scan.noreads,
            read_rate=scan.reads / seen if seen else None,
            rejected=scan.rejected,
            misreads=scan.misreads,
            second_reads=scan.second_reads,
            disputes=scan.disputes,
            mismatches=counters.mismatches,
            batch_open=float(self._batch.announcement is not None),
            packs=counters.packs,
            pack_children=counters.pack_children,
            pack_late_children=counters.pack_late_children,
            stored=counters.stored,
            lost=counters.lost,
            invalid=counters.invalid,
            outbox_depth=self._outbox.depth(),
            outbox_fill=self._outbox.fill,
            outbox_alarm=float(self._alarm.check()),
            outbox_oldest_age_s=oldest_age,
            last_stored_seq=last_seq,
            frames_to_first_read=margin.frames_to_first_read,
            ec_used=margin.ec_used,
            **self._delivery(),
        )

    def _delivery(self) -> dict[str, float | None]:
        if self.publisher is None:
            return {}
        stats = self.publisher()
        return {
            "connected": float(stats.connected),
            "watermark": stats.watermark,
            "published": stats.published,
            "resent": stats.resent,
            "broker_acknowledged": stats.acknowledged,
            "covered": stats.covered,
            "uncovered": stats.uncovered,
            "broker_refused": stats.rejected,
            "unrouted": stats.unrouted,
        }

    def metrics(self) -> dict[str, float]:
        """The figures of one status message."""
        return self.snapshot().as_metrics()
