"""Heavy wear: thin, tilted, blurred bars still read, on the synthetic "high" footage."""

from __future__ import annotations

from datetime import UTC
from pathlib import Path

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.sources import open_source
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.synth.conveyor import ConveyorSpec, write_conveyor

# Seed 7's first 21 items at "high" wear hold a GS1-128 SSCC turned 21 degrees with
# 1.6 px bars and 2.4 px of motion blur (item 20) that a milder sharpening of upright bars
# never read: the smallest video that shows the difference.
HIGH_WEAR = ConveyorSpec(
    items=21,
    fps=30.0,
    width=1280,
    height=720,
    items_per_second=10.0,
    seed=7,
    degradation="high",
)


def test_every_readable_item_of_a_high_wear_video_is_read_and_nothing_else(
    tmp_path: Path,
) -> None:
    video = tmp_path / "high.mp4"
    truth = write_conveyor(video, HIGH_WEAR)
    pipeline = ScanPipeline(PipelineConfig())
    passages = []
    with open_source(str(video), utc_offset=UTC) as source:
        for frame in source:
            passages += pipeline.feed(frame)
    passages += pipeline.finish()

    read = {to_hri(p.symbology_id, p.text or "") for p in passages if p.kind is EventKind.READ}
    readable = {item.text for item in truth.items if item.readable}
    printed = {item.text for item in truth.items}
    assert readable - read == set()
    assert read - printed == set()  # no false reads
    assert pipeline.stats.misreads == 0


# Seed 8's item 54 at "high" wear is a GS1 Data Matrix of 2-px modules, smeared and out of
# focus, that no single frame reads and that its combined views read only once the blur is
# divided out and the result cut at mid-grey (see linetrace.edge.vision.stack.STACK_BLURS).
WORN_MATRIX = ConveyorSpec(
    items=60,
    fps=30.0,
    width=1280,
    height=720,
    items_per_second=10.0,
    seed=8,
    degradation="high",
)


def test_a_worn_matrix_symbol_no_frame_reads_is_read_from_its_combined_views(
    tmp_path: Path,
) -> None:
    video = tmp_path / "worn-matrix.mp4"
    truth = write_conveyor(video, WORN_MATRIX)
    pipeline = ScanPipeline(PipelineConfig())
    passages = []
    with open_source(str(video), utc_offset=UTC) as source:
        for frame in source:
            passages += pipeline.feed(frame)
    passages += pipeline.finish()

    read = {to_hri(p.symbology_id, p.text or "") for p in passages if p.kind is EventKind.READ}
    assert truth.items[54].symbology == "gs1-datamatrix"
    assert truth.items[54].text in read
    assert pipeline.stats.stacked >= 1
    assert read - {item.text for item in truth.items} == set()  # no false reads
