"""A wall clock stepped by a time sync: passages and the pack hold run on the monotonic
clock, and only ``observed_at`` follows the wall clock."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.pack import PackAssociator
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.settings import PackConfig
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.line.conveyor_feed import (
    START,
    Timing,
    grey_frames,
    score_by_frame,
    stepped_wall,
    truth,
)

# Mid-passage: frame 40 has items 1 and 2 in view, frame 80 items 3, 4 and 5.
STEPS = [{40: 6.0, 80: -6.0}, {40: -6.0, 80: 6.0}]


@pytest.mark.parametrize("steps", STEPS, ids=["forward-then-back", "back-then-forward"])
def test_a_stepped_wall_clock_neither_splits_nor_joins_passages(steps: dict[int, float]) -> None:
    pipeline = ScanPipeline(PipelineConfig())
    passages: list[Passage] = []
    for frame in Timing(wall_steps=steps).frames(grey_frames()):
        passages += pipeline.feed(frame)
    passages += pipeline.finish()

    result = score_by_frame(truth(), passages)
    assert sorted(result.read) == list(range(6))
    assert result.duplicates == []
    assert result.false_reads == []
    wall = stepped_wall(steps)
    assert [p.first_seen for p in passages] == [wall(p.first_frame or 0) for p in passages]
    # Handed on in the order seen, whatever the wall clock says.
    assert [p.first_frame for p in passages] == sorted(p.first_frame or 0 for p in passages)


def passage(text: str, gs1: dict[str, str], mono: tuple[float, float], step_s: float) -> Passage:
    """A read seen from ``mono[0]`` to ``mono[1]`` s, its wall times stepped by ``step_s``."""
    return Passage(
        kind=EventKind.READ,
        first_seen=wall_at(mono[0], step_s),
        last_seen=wall_at(mono[1], step_s),
        first_mono=mono[0],
        last_mono=mono[1],
        frames=10,
        symbology="Code128",
        symbology_id="]C1",
        text=text,
        gs1=gs1,
    )


def wall_at(mono: float, step_s: float) -> datetime:
    return START + timedelta(seconds=mono + step_s)


def case(step_s: float) -> Passage:
    return passage("00389385000000000017", {"00": "389385000000000017"}, (0.0, 1.0), step_s)


def item(step_s: float) -> Passage:
    gs1 = {"01": "08938500000018", "21": "000001"}
    return passage("010893850000001821000001", gs1, (0.2, 1.1), step_s)


@pytest.mark.parametrize("step_s", [6.0, -6.0])
def test_the_pack_hold_and_its_children_ignore_a_wall_clock_step(step_s: float) -> None:
    config = PackConfig(overlap_margin_s=0.25, hold_s=1.0)
    associator = PackAssociator(config)
    # The wall clock stepped while the case was in view: the item's wall times are from
    # before the step, the case's from after it; on the monotonic clock they overlap.
    assert associator.add(case(step_s)) == []
    assert associator.add(item(0.0)) == [item(0.0)]
    due_at = 1.0 + config.overlap_margin_s + config.hold_s
    assert associator.release_due(due_at - 0.01) == []  # held for exactly hold_s, no more
    [pack] = associator.release_due(due_at)

    assert pack.kind is EventKind.PACK
    assert [child.text for child in pack.children or ()] == [item(0.0).text]
    assert pack.first_seen == wall_at(0.0, step_s)  # observed_at keeps its wall time
    assert associator.stats.late_children == 0


def test_a_passage_without_monotonic_times_is_not_held() -> None:
    associator = PackAssociator(PackConfig(hold_s=5.0))
    unmeasured = Passage(
        kind=EventKind.READ, first_seen=START, last_seen=START, frames=3,
        text="00389385000000000017", gs1={"00": "389385000000000017"},
    )  # fmt: skip
    assert associator.add(unmeasured) == [unmeasured]
    assert associator.waiting == 0
