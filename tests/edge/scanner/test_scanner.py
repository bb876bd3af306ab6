"""The scanner end to end: synthetic conveyor footage through capture, workers and tracking."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.synth.conveyor import ConveyorSpec, Truth, write_conveyor
from tests.edge.scenes import score

START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
# Seeds whose 24 items include covered labels of both kinds: at "low" a QR, an EAN-13 and
# an SSCC; at "medium" a Data Matrix and two SSCCs.
SEEDS = {"low": 15, "medium": 4}


@pytest.fixture(scope="module", params=["low", "medium"])
def conveyor(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
             ) -> tuple[Path, Truth]:  # fmt: skip
    level = str(request.param)
    spec = ConveyorSpec(
        items=24, fps=30.0, width=640, height=360, items_per_second=4.0,
        seed=SEEDS[level], degradation=level,
    )  # fmt: skip
    video = tmp_path_factory.mktemp(level) / "conveyor.mp4"
    return video, write_conveyor(video, spec)


def scan(video: Path, workers: int) -> tuple[list[Passage], Scanner]:
    with Scanner(PipelineConfig(), str(video), start=START, workers=workers) as scanner:
        passages = list(scanner)
    return passages, scanner


@pytest.mark.parametrize("workers", [0, 2])
def test_every_readable_item_once_and_each_covered_one_a_noread(
    conveyor: tuple[Path, Truth], workers: int
) -> None:
    video, truth = conveyor
    readable = sorted(item.index for item in truth.items if item.readable)
    covered = sorted(item.index for item in truth.items if not item.readable)
    assert covered, "the seed should cover some labels"

    passages, scanner = scan(video, workers)
    result = score(truth, passages, START)

    assert sorted(result.read) == readable
    assert result.duplicates == []
    assert result.false_reads == []
    assert dict(result.noreads) == dict.fromkeys(covered, 1)
    assert result.stray_noreads == []
    noreads = [p for p in passages if p.kind is EventKind.NOREAD]
    assert all(p.snapshot for p in noreads)
    stats = scanner.stats
    assert stats.decoded == truth.frames
    assert stats.dropped == 0
    assert stats.failed == 0
    assert (stats.reads, stats.noreads) == (len(readable), len(covered))
    assert stats.decode_ms_p50 > 0
    assert stats.decode_ms_p99 >= stats.decode_ms_p50
    assert stats.carried > 0  # labels already read were followed, not decoded again
    assert stats.queue_depth == 0


def test_stop_from_another_thread_ends_a_live_scan_with_its_open_passages(
    conveyor: tuple[Path, Truth],
) -> None:
    video, truth = conveyor
    with Scanner(PipelineConfig(), str(video), realtime=True, workers=0) as scanner:
        stopper = threading.Timer(1.0, scanner.stop)
        stopper.start()
        began = time.monotonic()
        passages = list(scanner)
        took = time.monotonic() - began
        stopper.join()
        stats = scanner.stats

    footage_s = truth.frames / truth.spec.fps
    assert took < footage_s - 2.0  # stopped well before the video's end
    assert passages
    assert all(p.kind in (EventKind.READ, EventKind.NOREAD) for p in passages)
    assert 0 < stats.decoded < truth.frames
    assert stats.fps_captured > 0


def test_a_source_that_cannot_open_fails_at_start(tmp_path: Path) -> None:
    scanner = Scanner(PipelineConfig(), str(tmp_path / "missing.mp4"), workers=0)

    with pytest.raises(SourceError, match="no such file"), scanner:
        pass


def test_iterating_an_unstarted_scanner_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="start the scanner"):
        list(Scanner(PipelineConfig(), str(tmp_path / "x.mp4"), workers=0))
