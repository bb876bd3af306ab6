"""A source that pauses (a camera settling at start, a stream that stalls a moment) does
not split a passage; an item that leaves still closes its passage."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from linetrace.edge.line.stream_clock import BRIDGE_S, StreamClock
from linetrace.edge.line.track import PassageTracker, Track
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.vision.decode import Symbol
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import START, symbol
from tests.edge.line.conveyor_feed import (
    PAUSES,
    PausingConveyor,
    Timing,
    grey_frames,
    score_by_frame,
    stepped_wall,
    truth,
)

FPS = 30.0
WINDOW = 0.5
EAN = "8939458930367"


def ean(x: float, y: float = 100.0) -> Symbol:
    return symbol(EAN, x, y, size=60, symbology="EAN13", symbology_id="]E0")


class Feed:
    """A tracker fed as the pipeline feeds it: frame times through a stream clock."""

    def __init__(self) -> None:
        self.tracker = PassageTracker(WINDOW)
        self.clock = StreamClock()
        self.closed: list[Track] = []
        self.index = -1
        self.mono = 0.0

    def frame(self, *symbols: Symbol, late_s: float = 0.0, lost: int = 0) -> None:
        """The next frame: ``late_s`` later than its pace, after ``lost`` frames lost."""
        self.index += 1 + lost
        self.mono += (1 + lost) / FPS + late_s
        paused = self.clock.advance(self.index, self.mono)
        wall = START + timedelta(seconds=self.mono)
        self.closed += self.tracker.observe(self.index, self.mono, wall, symbols, paused=paused)

    def finish(self) -> list[Track]:
        return self.closed + self.tracker.finish()


SPEED = 300.0  # pixels per second along the belt: 10 px a frame


def test_a_paused_source_that_held_its_frames_is_one_passage() -> None:
    feed = Feed()
    for n in range(6):
        feed.frame(ean(100 + n * SPEED / FPS))
    # 0.7 s later the next frame shows the item where it was heading: the source held it.
    feed.frame(ean(100 + 6 * SPEED / FPS), late_s=0.7)
    for n in range(7, 12):
        feed.frame(ean(100 + n * SPEED / FPS))

    assert [track.frames for track in feed.finish()] == [12]


def test_a_stalled_camera_that_missed_the_belt_moving_is_one_passage() -> None:
    feed = Feed()
    for n in range(6):
        feed.frame(ean(100 + n * SPEED / FPS))
    # The camera sent nothing for 0.7 s while the belt ran on (no frame index lost).
    feed.frame(ean(100 + (5 * SPEED / FPS) + 0.7 * SPEED + SPEED / FPS), late_s=0.7)
    for n in range(1, 4):
        feed.frame(ean(100 + (5 * SPEED / FPS) + 0.7 * SPEED + (n + 1) * SPEED / FPS))

    assert [track.frames for track in feed.finish()] == [10]


def test_after_a_pause_another_item_of_the_code_elsewhere_is_its_own_passage() -> None:
    feed = Feed()
    for n in range(6):
        feed.frame(ean(100 + n * SPEED / FPS))
    # Far from where the item was heading and from where the belt took it: another item.
    feed.frame(ean(100 + 5 * SPEED / FPS + 0.35 * SPEED), late_s=0.7)

    assert [track.frames for track in feed.finish()] == [6, 1]


def test_an_item_that_left_during_a_pause_closes_after_a_window_of_frames() -> None:
    feed = Feed()
    for n in range(6):
        feed.frame(ean(100 + n * SPEED / FPS))
    feed.frame(late_s=0.7)  # the stall ends; the item is gone
    assert feed.closed == []  # the pause itself showed nothing leave
    empty = 1
    while not feed.closed:
        feed.frame()
        empty += 1
    assert empty >= WINDOW * FPS  # a window of frames without it, then it closes
    assert [track.frames for track in feed.closed] == [6]


def test_an_outage_longer_than_the_bridge_closes_what_was_in_view() -> None:
    feed = Feed()
    for n in range(6):
        feed.frame(ean(100 + n * SPEED / FPS))
    feed.frame(late_s=BRIDGE_S + 1.0)

    assert [track.frames for track in feed.closed] == [6]


@pytest.mark.parametrize(
    "timing",
    [
        Timing(pauses=PAUSES),
        Timing(lost=frozenset(range(60, 75))),  # frames lost: their time passed
        Timing(pauses={14: 1.5, 74: 1.5}),  # longer than any window, under the bridge
    ],
    ids=["paused", "lost-frames", "long-pauses"],
)
def test_the_pipeline_reads_each_item_once_across_pauses(timing: Timing) -> None:
    pipeline = ScanPipeline(PipelineConfig())
    passages = []
    for frame in timing.frames(grey_frames()):
        passages += pipeline.feed(frame)
    passages += pipeline.finish()

    result = score_by_frame(truth(), passages)
    assert sorted(result.read) == list(range(6))
    assert result.duplicates == []
    assert result.false_reads == []
    assert result.noreads == 0


@pytest.fixture
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let spawned processes import the opener defined in this package."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))


@pytest.mark.usefixtures("importable_tests")
def test_a_live_source_that_pauses_at_start_and_later_reports_each_item_once() -> None:
    # The real path: a capture process stamping frames as they arrive, decode workers, the
    # scanner; the source pauses 0.7 s after its first frames and again mid-passage, and
    # its wall clock steps forward 6 s and back again while items are in view.
    wall_steps = {40: 6.0, 80: -6.0}
    opener = PausingConveyor(Timing(pauses=PAUSES, wall_steps=wall_steps))
    with Scanner(PipelineConfig(), opener, workers=2) as scanner:
        passages = list(scanner)

    result = score_by_frame(truth(), passages)
    assert sorted(result.read) == list(range(6))
    assert result.duplicates == []
    assert result.false_reads == []
    wall = stepped_wall(wall_steps)
    # observed_at is the wall clock (stepped or not) of the frame the code was first read in.
    assert [p.first_seen for p in passages] == [wall(p.first_frame or 0) for p in passages]
    assert all(p.first_mono is not None and p.last_mono is not None for p in passages)
