"""The station's figures: one snapshot for the status message and the metrics."""

from __future__ import annotations

import logging
from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.status import (
    AgentCounters,
    CapacityAlarm,
    StationFigures,
    StatusBoard,
    percentile,
)
from linetrace.edge.line.current_batch import CurrentBatch
from linetrace.edge.line.margin import DecodeMargin
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.figures import ScanFigures

STATION = StationId("hcm1", "L1", "pack-1")
ICT = timezone(timedelta(hours=7))


def passage(frames: int = 1) -> Passage:
    seen = datetime(2026, 3, 1, 8, 0, tzinfo=ICT)
    return Passage(kind=EventKind.READ, first_seen=seen, last_seen=seen, frames=frames, text="x")


def test_percentiles_are_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.50) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([7.0], 0.99) == 7.0
    assert percentile([], 0.5) is None


def test_the_alarm_is_raised_and_cleared_once_each(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="linetrace.edge.delivery.status")
    with Outbox(tmp_path / "o.db", STATION, capacity=5) as outbox:
        alarm = CapacityAlarm(outbox, alarm_at=0.8)
        for _ in range(3):
            outbox.append(passage())
            assert not alarm.check()
        outbox.append(passage())
        assert alarm.check()
        assert alarm.check()
        assert alarm.raised
        outbox.remove_through(2)
        assert not alarm.check()
    messages = [(r.levelname, r.getMessage()) for r in caplog.records]
    assert [level for level, _ in messages] == ["WARNING", "INFO"]
    assert "is 80% full (4 of 5 events; alarm at 80%)" in messages[0][1]


def test_the_board_gathers_every_owners_figures(tmp_path: Path) -> None:
    scan = ScanFigures(
        frames=300,
        fps_captured=30.0,
        fps_decoded=29.5,
        dropped_frames=4,
        decode_ms_p50=6.0,
        decode_ms_p99=21.0,
        queue_depth=1,
        reads=45,
        noreads=5,
        rejected=2,
    )
    counters = AgentCounters(stored=47, mismatches=3, packs=1, pack_children=4)
    margin = DecodeMargin()
    margin.add(replace(passage(frames=8), first_frame=10, first_frame_in_view=4))
    with Outbox(tmp_path / "o.db", STATION, capacity=100) as outbox:
        outbox.append(passage())
        board = StatusBoard(
            outbox, CapacityAlarm(outbox, 0.8), margin, counters, CurrentBatch(), lambda: scan
        )
        metrics = board.metrics()
    assert metrics["read_rate"] == pytest.approx(0.9)
    assert (metrics["noreads"], metrics["rejected"], metrics["mismatches"]) == (5, 2, 3)
    assert (metrics["fps_captured"], metrics["decode_ms_p99"], metrics["dropped_frames"]) == (
        30.0,
        21.0,
        4,
    )
    assert (metrics["outbox_depth"], metrics["outbox_fill"], metrics["outbox_alarm"]) == (
        1,
        0.01,
        0.0,
    )
    assert metrics["outbox_oldest_age_s"] >= 0.0
    assert metrics["frames_to_first_read"] == 6.0
    assert metrics["batch_open"] == 0.0
    # Unknown figures are left out rather than sent as a made-up number.
    assert "ec_used" not in metrics
    assert "watermark" not in metrics


def test_every_figure_has_a_kind_and_help() -> None:
    described = list(StationFigures().described())
    assert len(described) == len({name for name, _, _ in described})
    assert all(figure.kind in ("counter", "gauge") and figure.help for _, _, figure in described)
    assert StationFigures().as_metrics() == {}
