"""Decode margin: frames to the first read, read share and error correction used."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind, StationStatus
from linetrace.broker.contract.topics import StationId
from linetrace.edge.camera.sources import open_source
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.status import AgentCounters, CapacityAlarm, StatusBoard
from linetrace.edge.line.current_batch import CurrentBatch
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.line.margin import DecodeMargin, frames_to_first_read
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.figures import ScanFigures
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.decode import error_correction_used
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.synth.conveyor import ConveyorSpec, Truth, TruthItem, write_conveyor
from tests.edge.barcodes import GOOD_HRI, canvas, datamatrix, frame
from tests.edge.scenes import gs1_128

ICT = timezone(timedelta(hours=7))
T0 = datetime(2026, 3, 1, 8, 0, tzinfo=ICT)
STATION = StationId("hcm1", "L1", "pack-1")


def _idle() -> ScanFigures:
    return ScanFigures()


def read(
    *,
    frames: int = 1,
    first_frame: int | None = None,
    first_frame_in_view: int | None = None,
    ec_used: float | None = None,
) -> Passage:
    return Passage(
        kind=EventKind.READ,
        first_seen=T0,
        last_seen=T0,
        frames=frames,
        text="x",
        first_frame=first_frame,
        first_frame_in_view=first_frame_in_view,
        ec_used=ec_used,
    )


def test_frames_to_first_read_needs_both_frames() -> None:
    assert frames_to_first_read(read(first_frame=12, first_frame_in_view=9)) == 3
    assert frames_to_first_read(read(first_frame=12)) is None
    assert frames_to_first_read(read(first_frame_in_view=9)) is None


def test_the_averages_roll_over_the_last_reads_only() -> None:
    margin = DecodeMargin(window=3)
    assert margin.figures().frames_to_first_read is None
    for first in (0, 10, 2, 4):
        margin.add(read(first_frame=first, first_frame_in_view=0, ec_used=first / 10))
    figures = margin.figures()
    assert figures.frames_to_first_read == pytest.approx((10 + 2 + 4) / 3)
    assert figures.ec_used == pytest.approx((1.0 + 0.2 + 0.4) / 3)


def test_error_correction_used_reads_zxing_cpps_unused_share() -> None:
    assert error_correction_used({"UEC": 1.0, "Version": "12x26"}) == 0.0
    assert error_correction_used({"UEC": 0.25}) == 0.75
    assert error_correction_used(None) is None
    assert error_correction_used({"Version": "1"}) is None  # no error correction reported
    assert error_correction_used({"UEC": "0.5"}) is None


def test_a_damaged_data_matrix_uses_more_error_correction() -> None:
    zxingcpp = pytest.importorskip("zxingcpp")
    code = zxingcpp.create_barcode("0108938500000018215000001", zxingcpp.BarcodeFormat.DataMatrix)
    clean = np.pad(np.asarray(code.to_image(scale=6)), 24, constant_values=255)
    damaged = clean.copy()
    rng = np.random.default_rng(0)
    for _ in range(6):  # flip a few module-sized patches inside the symbol
        y, x = rng.integers(30, clean.shape[0] - 30), rng.integers(30, clean.shape[1] - 30)
        damaged[y - 3 : y + 3, x - 3 : x + 3] = 255 - damaged[y, x]
    [fresh] = zxingcpp.read_barcodes(clean)
    [worn] = zxingcpp.read_barcodes(damaged)
    assert error_correction_used(fresh.extra) == 0.0
    worn_use = error_correction_used(worn.extra)
    assert worn_use is not None
    assert 0.0 < worn_use <= 1.0


def truth_item(truth: Truth, passage: Passage, last: int) -> TruthItem:
    """The generated item a read passage (last read in frame ``last``) is of.

    Same text, in view while it was read. Items of one product share an EAN-13 and can be
    in view together; the one that left the view nearest to the last read is the one.
    """
    hri = to_hri(passage.symbology_id, passage.text or "")
    first = passage.first_frame
    assert first is not None
    candidates = [
        item
        for item in truth.items
        if item.text == hri and item.first_frame <= first <= last <= item.last_frame
    ]
    assert candidates, f"{hri} read in frames {first}-{last} is in no item's view"
    return min(candidates, key=lambda item: abs(item.last_frame - last))


def scan_with_frames(video: Path) -> list[tuple[Passage, int]]:
    """The read passages of ``video`` with their first read frame, and their last one.

    Attributing frames is the pipeline's to do once it reports them; here the test does
    it, from the capture time each frame was stamped with.
    """
    pipeline = ScanPipeline(PipelineConfig())
    index_at: dict[datetime, int] = {}
    closed: list[Passage] = []
    with open_source(str(video), utc_offset=ICT) as source:
        for frame in source:
            index_at[frame.wall] = frame.index
            closed += pipeline.feed(frame)
    closed += pipeline.finish()
    return [
        (replace(p, first_frame=index_at[p.first_seen]), index_at[p.last_seen])
        for p in closed
        if p.kind is EventKind.READ
    ]


def test_a_synthetic_videos_reads_give_frames_to_first_read(tmp_path: Path) -> None:
    video = tmp_path / "conveyor.mp4"
    spec = ConveyorSpec(
        items=8, fps=30.0, width=800, height=450, items_per_second=2.0, seed=5, degradation="none"
    )
    truth = write_conveyor(video, spec)
    reads = scan_with_frames(video)
    assert len(reads) >= 6  # a clean video reads (nearly) every item
    margin = DecodeMargin()
    delays = []
    for passage, last in reads:
        item = truth_item(truth, passage, last)
        assert passage.first_frame is not None
        margin.add(replace(passage, first_frame_in_view=item.first_frame))
        delays.append(passage.first_frame - item.first_frame)
    figures = margin.figures()
    assert figures.frames_to_first_read == pytest.approx(sum(delays) / len(delays))
    # A clean label is read soon after it enters the view, long before it leaves it.
    assert min(delays) >= 0
    assert max(delays) < spec.fps


def worn(image: np.ndarray, patches: int, seed: int = 0) -> np.ndarray:
    """``image`` with ``patches`` module-sized spots inside the symbol flipped."""
    damaged = image.copy()
    rng = np.random.default_rng(seed)
    height, width = image.shape[:2]
    for _ in range(patches):
        y, x = int(rng.integers(8, height - 8)), int(rng.integers(8, width - 8))
        damaged[y - 2 : y + 2, x - 2 : x + 2] = 255 - damaged[y, x]
    return damaged


def passage_of(label: np.ndarray) -> Passage:
    """The one read passage of ``label`` carried across a belt by the scan pipeline."""
    frames = [frame(canvas([(label, 10 + 6 * i, 60)]), i) for i in range(8)]
    pipeline = ScanPipeline(PipelineConfig())
    passages: list[Passage] = []
    for item in frames:
        passages += pipeline.feed(item)
    (passage,) = passages + pipeline.finish()
    return passage


def test_a_worn_label_reports_more_error_correction_up_to_the_status_message(
    tmp_path: Path,
) -> None:
    clean_label = datamatrix(GOOD_HRI, scale=4)
    clean = passage_of(clean_label)
    worn_passage = passage_of(worn(clean_label, patches=5))
    assert clean.ec_used == 0.0
    assert worn_passage.text == clean.text
    assert worn_passage.ec_used is not None
    assert worn_passage.ec_used > 0.1

    margin = DecodeMargin()
    margin.add(clean)
    margin.add(worn_passage)
    with Outbox(tmp_path / "o.db", STATION, capacity=10) as outbox:
        board = StatusBoard(
            outbox, CapacityAlarm(outbox, 0.8), margin, AgentCounters(), CurrentBatch(), _idle
        )
        status = StationStatus(state="online", at=T0, metrics=board.metrics())
    received = StationStatus.model_validate_json(status.to_payload())
    assert received.metrics["ec_used"] == pytest.approx(worn_passage.ec_used / 2)


def test_a_linear_code_reports_no_error_correction() -> None:
    label = gs1_128(scale=2)
    passage = passage_of(label)
    assert passage.symbology == "Code128"
    assert passage.ec_used is None
