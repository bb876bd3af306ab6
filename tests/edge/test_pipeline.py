"""The scan pipeline end to end on rendered frames: decode, track, interpret, reject."""

from __future__ import annotations

import logging

import pytest
import zxingcpp
from pydantic import ValidationError

from linetrace.broker.events import EventKind
from linetrace.edge.decode import ZxingDecoder
from linetrace.edge.model import Frame, Passage
from linetrace.edge.pipeline import PipelineConfig, ScanPipeline
from tests.edge.barcodes import (
    BAD_CHECK_DIGIT_HRI,
    GOOD_HRI,
    GTIN,
    START,
    Image,
    canvas,
    code_image,
    datamatrix,
    frame,
)

DM = datamatrix(GOOD_HRI, scale=3)
QR = code_image("https://example.com/manual", zxingcpp.BarcodeFormat.QRCode, scale=3)


def belt(frames: int, *symbols: tuple[Image, int, int, int]) -> list[Frame]:
    """Frames of a belt moving ``dx`` px/frame: each symbol as (image, x, y, dx)."""
    return [
        frame(canvas([(image, x + dx * i, y) for image, x, y, dx in symbols]), i)
        for i in range(frames)
    ]


def run(pipeline: ScanPipeline, frames: list[Frame]) -> list[Passage]:
    passages: list[Passage] = []
    for item in frames:
        passages += pipeline.feed(item)
    return passages + pipeline.finish()


def test_config_defaults_and_descriptions() -> None:
    config = PipelineConfig()

    assert (config.backend, config.formats, config.window_s) == ("zxing", None, 0.5)
    for name, field in PipelineConfig.model_fields.items():
        assert field.description, f"{name} has no description"


def test_config_refuses_unknown_keys_and_formats_naming_them() -> None:
    with pytest.raises(ValidationError, match="dedup"):
        PipelineConfig(dedup=1.0)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="'Bogus'"):
        PipelineConfig(formats=("QRCode", "Bogus"))
    with pytest.raises(ValidationError, match="zbar backend cannot read DataMatrix"):
        PipelineConfig(backend="zbar", formats=("DataMatrix",))
    with pytest.raises(ValidationError, match="at least one"):
        PipelineConfig(formats=())
    with pytest.raises(ValidationError, match="window_s"):
        PipelineConfig(window_s=-1)


def test_config_canonicalises_format_names() -> None:
    assert PipelineConfig(formats=("qrcode", "ean13")).formats == ("QRCode", "EAN13")


def test_one_item_on_a_moving_belt_is_one_passage() -> None:
    pipeline = ScanPipeline(PipelineConfig())
    passages = run(pipeline, belt(8, (DM, 10, 60, 6)))

    (passage,) = passages
    assert passage.kind is EventKind.READ
    assert passage.symbology == "DataMatrix"
    assert passage.symbology_id == "]d2"
    assert passage.gs1 == {"01": GTIN, "17": "271231", "10": "L2611", "21": "000123"}
    assert passage.frames == 8
    assert passage.first_seen == START
    assert all(check.passed for check in passage.checks.values())
    assert pipeline.stats.reads == 1 and pipeline.stats.symbols == 8
    assert pipeline.stats.frames == 8 and pipeline.stats.decode_seconds > 0


def test_passages_come_out_when_they_close_not_before() -> None:
    pipeline = ScanPipeline(PipelineConfig(window_s=0.1))
    seen = [frame(canvas([(DM, 20, 60)]), i) for i in range(3)]
    empty = [frame(canvas([]), i) for i in range(3, 10)]

    assert [len(pipeline.feed(f)) for f in seen] == [0, 0, 0]
    closed_per_frame = [len(pipeline.feed(f)) for f in empty]
    assert sum(closed_per_frame) == 1
    assert closed_per_frame.index(1) == 3  # 4 frames (0.133 s) after the last sighting
    assert pipeline.finish() == []


def test_two_items_in_one_frame_are_two_passages() -> None:
    passages = run(ScanPipeline(PipelineConfig()), belt(4, (DM, 10, 60, 4), (QR, 300, 40, 4)))

    assert sorted(str(p.symbology) for p in passages) == ["DataMatrix", "QRCode"]
    qr = next(p for p in passages if p.symbology == "QRCode")
    assert qr.gs1 is None and qr.checks == {}


def test_bad_check_digit_is_rejected_once_not_per_frame(caplog: pytest.LogCaptureFixture) -> None:
    bad = datamatrix(BAD_CHECK_DIGIT_HRI, scale=3)
    pipeline = ScanPipeline(PipelineConfig())

    with caplog.at_level(logging.WARNING):
        passages = run(pipeline, belt(6, (bad, 10, 60, 5), (QR, 300, 40, 5)))

    assert [p.symbology for p in passages] == ["QRCode"]
    assert pipeline.stats.rejected == 1
    assert pipeline.stats.reads == 1
    assert "Expected 0, got 8" in caplog.text


def test_observe_takes_symbols_decoded_elsewhere() -> None:
    # The seam for decoding in worker processes: decode anywhere, observe in order.
    frames = belt(5, (DM, 10, 60, 5))
    decoder = ZxingDecoder()
    pipeline = ScanPipeline(PipelineConfig())
    passages: list[Passage] = []
    for item in frames:
        passages += pipeline.observe(item, decoder.decode(item.image))
    passages += pipeline.finish()

    direct = run(ScanPipeline(PipelineConfig()), frames)
    assert passages == direct
    assert pipeline.stats.decode_seconds == 0.0  # this pipeline decoded nothing itself


def test_stats_as_dict_has_the_counters() -> None:
    pipeline = ScanPipeline(PipelineConfig())
    run(pipeline, belt(2, (DM, 10, 60, 5)))
    stats = pipeline.stats.as_dict()

    assert {"frames", "symbols", "reads", "noreads", "rejected", "misreads"} <= set(stats)
    assert stats["frames"] == 2 and stats["decode_ms_per_frame"] > 0
