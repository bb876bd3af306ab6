"""The scan pipeline end to end on rendered frames: decode, track, interpret, reject."""

from __future__ import annotations

import base64
import logging

import cv2
import numpy as np
import pytest
import zxingcpp
from pydantic import ValidationError

from linetrace.broker.contract.messages import MAX_SNAPSHOT_CHARS, EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.edge.camera.frame import Frame
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.passage_event import make_event
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.decode import ZxingDecoder
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.edge.vision.snapshot import MAX_SNAPSHOT_BYTES, encode_snapshot
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
    with_check_digit,
)
from tests.edge.scenes import SSCC, boxes, covered, ean13, gs1_128, place, turned
from tests.edge.vision.worn import Wear, worn

DM = datamatrix(GOOD_HRI, scale=3)
SSCC_OTHER_HRI = "(00)" + with_check_digit("08938500000000029")
GOOD_GS1 = {"01": GTIN, "17": "271231", "10": "L2611", "21": "000123"}
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
    # Decoded once, then followed along the belt without decoding again.
    assert pipeline.stats.reads == 1
    assert pipeline.stats.symbols == 1
    assert pipeline.stats.carried == 7
    assert pipeline.stats.attempts == 1
    assert pipeline.stats.frames == 8
    assert pipeline.stats.decode_seconds > 0


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
    assert qr.gs1 is None
    assert qr.checks == {}


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

    direct = run(ScanPipeline(PipelineConfig(locate=False)), frames)
    assert passages == direct
    assert pipeline.stats.decode_seconds == 0.0  # this pipeline decoded nothing itself


def test_stats_as_dict_has_the_counters() -> None:
    pipeline = ScanPipeline(PipelineConfig())
    run(pipeline, belt(2, (DM, 10, 60, 5)))
    stats = pipeline.stats.as_dict()

    assert {"frames", "symbols", "reads", "noreads", "rejected", "misreads", "unconfirmed",
            "carried", "still", "attempts"} <= set(stats)  # fmt: skip
    assert stats["frames"] == 2
    assert stats["decode_ms_per_frame"] > 0


# --- linear codes need two agreeing frames --------------------------------------------------

SSCC_TEXT = f"00{SSCC}"


def test_a_linear_code_read_in_one_frame_only_is_dropped_as_unconfirmed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    code = gs1_128()
    frames = [frame(place(code, (640, 360), 40, 60), 0)]
    frames += [frame(place(code, (640, 360), 900, 60), i) for i in (1, 2)]  # gone
    # Three reads wanted: the frame's and its rows' (see the next test) are two.
    pipeline = ScanPipeline(PipelineConfig(linear_confirmations=3))

    with caplog.at_level(logging.INFO):
        passages = run(pipeline, frames)

    assert passages == []
    assert pipeline.stats.unconfirmed == 1
    assert pipeline.stats.reads == 0
    assert "unconfirmed" in caplog.text


def test_a_linear_code_read_in_one_frame_of_a_moving_line_is_confirmed_by_its_rows() -> None:
    code = gs1_128()
    frames = [frame(place(code, (640, 360), 40, 60), 0)]
    frames += [frame(place(code, (640, 360), 900, 60), i) for i in (1, 2)]  # gone
    pipeline = ScanPipeline(PipelineConfig())

    (passage,) = run(pipeline, frames)

    assert (passage.symbology, passage.text, passage.frames) == ("Code128", SSCC_TEXT, 1)
    assert pipeline.stats.unconfirmed == 0


def test_a_linear_code_read_in_two_frames_counts_once() -> None:
    code = gs1_128()
    frames = [frame(place(code, (640, 360), 40 + 12 * i, 60), i) for i in range(6)]
    pipeline = ScanPipeline(PipelineConfig())

    (passage,) = run(pipeline, frames)

    assert (passage.symbology, passage.text, passage.frames) == ("Code128", SSCC_TEXT, 6)
    assert passage.gs1 == {"00": SSCC}
    # Decoded until confirmed (two frames), then followed without decoding.
    assert pipeline.stats.symbols == 2
    assert pipeline.stats.carried == 4


def test_one_confirmation_is_enough_when_configured() -> None:
    frames = [frame(place(gs1_128(), (640, 360), 40, 60), 0)]
    pipeline = ScanPipeline(PipelineConfig(linear_confirmations=1))

    assert [p.text for p in run(pipeline, frames)] == [SSCC_TEXT]


# --- no-reads --------------------------------------------------------------------------------


def belt_of(image: Image, frames: int, dx: int = 15) -> list[Frame]:
    return [frame(place(image, (800, 400), 40 + dx * i, 80), i) for i in range(frames)]


def test_a_covered_label_is_one_noread_with_a_jpeg_snapshot_that_fits_an_event() -> None:
    pipeline = ScanPipeline(PipelineConfig())

    (passage,) = run(pipeline, belt_of(covered(ean13(scale=3)), 8))

    assert passage.kind is EventKind.NOREAD
    assert (passage.text, passage.symbology, passage.frames) == (None, None, 8)
    assert passage.snapshot is not None
    assert passage.snapshot[:2] == b"\xff\xd8"
    picture = cv2.imdecode(np.frombuffer(passage.snapshot, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert picture is not None
    assert picture.shape[0] > 50
    assert pipeline.stats.noreads == 1
    assert pipeline.stats.reads == 0
    event = make_event(passage, StationId("s", "l", "k"), 1)
    assert event.snapshot is not None
    assert len(event.snapshot) <= MAX_SNAPSHOT_CHARS
    assert base64.b64decode(event.snapshot) == passage.snapshot


def card(image: Image, margin: int = 12) -> Image:
    """``image`` on a white label card ``margin`` px wider on every side."""
    bordered = cv2.copyMakeBorder(
        image, margin, margin, margin, margin, cv2.BORDER_CONSTANT, value=255
    )
    return np.asarray(bordered, np.uint8)


def boxes_on_belt(
    labels: list[tuple[Image, int, int]],
    frames: int,
    dx: int = 15,
    size: tuple[int, int] = (1000, 400),
) -> list[Frame]:
    """Frames of a grey belt carrying each label card at (x, y), ``dx`` px a frame."""
    return [
        frame(boxes(size, [(image, x + dx * i, y) for image, x, y in labels]), i)
        for i in range(frames)
    ]


def test_a_readable_label_beside_a_covered_one_gives_a_read_and_a_noread() -> None:
    readable = card(datamatrix(GOOD_HRI, scale=3))
    hidden = card(covered(ean13(scale=3)))
    pipeline = ScanPipeline(PipelineConfig())

    # Two boxes 60 px apart: the belt between them keeps the labels apart.
    passages = run(
        pipeline, boxes_on_belt([(readable, 20, 40), (hidden, 40 + readable.shape[1] + 60, 40)], 8)
    )

    assert sorted(p.kind.value for p in passages) == ["noread", "read"]


def test_a_covered_symbol_on_the_card_of_a_read_one_is_part_of_that_label() -> None:
    readable = datamatrix(GOOD_HRI, scale=3)
    hidden = covered(ean13(scale=3))
    height = max(readable.shape[0], hidden.shape[0])
    sheet = np.full((height, readable.shape[1] + 60 + hidden.shape[1]), 255, np.uint8)
    sheet[: readable.shape[0], : readable.shape[1]] = readable
    sheet[: hidden.shape[0], readable.shape[1] + 60 :] = hidden
    pipeline = ScanPipeline(PipelineConfig())

    passages = run(pipeline, boxes_on_belt([(card(sheet), 20, 40)], 8))

    assert [p.kind.value for p in passages] == ["read"]


def test_two_covered_linear_labels_in_line_on_two_boxes_are_two_noreads() -> None:
    # What is left of each code either side of its sticker lies on one line: as far
    # apart as the ends of one covered code, but with the belt between the two boxes.
    first, second = card(covered(gs1_128())), card(covered(gs1_128(SSCC_OTHER_HRI)))
    pipeline = ScanPipeline(PipelineConfig())

    labels = [(first, -200, 60), (second, -200 + first.shape[1] + 60, 60)]
    passages = run(pipeline, boxes_on_belt(labels, 24, dx=60, size=(1400, 400)))

    assert [p.kind.value for p in passages] == ["noread", "noread"]


def test_a_covered_label_whose_two_ends_show_in_turn_is_one_noread() -> None:
    # Glare washes out one end of the code for the first frames and the other end after:
    # the ends are never located in the same frame, and still make one no-read.
    label = card(covered(gs1_128()))
    width = label.shape[1]
    frames = []
    for index in range(12):
        glared = label.copy()
        if index < 6:
            glared[:, width // 2 :] = np.maximum(glared[:, width // 2 :], 235)
        else:
            glared[:, : width // 2] = np.maximum(glared[:, : width // 2], 235)
        frames.append(frame(boxes((1000, 400), [(glared, 40 + 30 * index, 60)]), index))
    pipeline = ScanPipeline(PipelineConfig())

    passages = run(pipeline, frames)

    assert [p.kind.value for p in passages] == ["noread"]


# 2 px modules, a 1.5 px smear and a lens blur of sigma 0.9, heavy sensor noise and JPEG
# at 40: no single frame of the turned Data Matrix below reads, their average does.
NOISY = Wear(scale=0.5, motion_px=1.5, sigma_px=0.9, noise=25.0, quality=40)


@pytest.mark.parametrize("stack", [False, True])
def test_a_noisy_data_matrix_no_frame_reads_is_read_from_its_views_combined(stack: bool) -> None:
    label = turned(card(datamatrix(GOOD_HRI, scale=4), 24), 30, pad=10)
    frames = [
        frame(worn(boxes((1600, 600), [(label, 60 + 100 * i, 100)]), NOISY, seed=i), i)
        for i in range(12)
    ]
    pipeline = ScanPipeline(PipelineConfig(stack=stack))

    passages = run(pipeline, frames)

    if stack:
        assert [(p.kind.value, p.gs1) for p in passages] == [("read", GOOD_GS1)]
        assert pipeline.stats.stacked == 1
    else:
        assert [p.kind.value for p in passages] == ["noread"]


def test_locate_off_means_no_noreads() -> None:
    pipeline = ScanPipeline(PipelineConfig(locate=False))

    assert run(pipeline, belt_of(covered(ean13(scale=3)), 8)) == []


def test_snapshots_are_shrunk_until_they_fit() -> None:
    noise = np.random.default_rng(0).integers(0, 256, (1500, 1500), dtype=np.uint8)

    small = encode_snapshot(noise[:100, :100])
    fitted = encode_snapshot(noise)

    assert small is not None
    assert len(small) < 20_000
    assert fitted is not None
    assert len(fitted) <= MAX_SNAPSHOT_BYTES
    assert len(base64.b64encode(fitted)) <= MAX_SNAPSHOT_CHARS
    decoded = cv2.imdecode(np.frombuffer(fitted, np.uint8), cv2.IMREAD_GRAYSCALE)
    assert decoded is not None
    assert decoded.shape[0] < 1500
    assert encode_snapshot(noise, limit=100) is None  # nothing that small shows anything
    assert encode_snapshot(noise[:0]) is None


def test_a_still_frame_carries_the_last_reading_over() -> None:
    image = place(datamatrix(GOOD_HRI, scale=3), (640, 360), 100, 60)
    pipeline = ScanPipeline(PipelineConfig())
    first = frame(image, 0)
    pipeline.feed(first)
    for index in range(1, 4):
        later = frame(image, index)
        pipeline.observe_still(later.index, later.mono, later.wall)

    (passage,) = pipeline.finish()

    assert passage.frames == 4
    assert pipeline.stats.still == 3
    assert pipeline.stats.symbols == 1


def test_roi_and_scale_are_validated() -> None:
    with pytest.raises(ValidationError, match="roi"):
        PipelineConfig(roi=(0, 0, 0, 10))
    with pytest.raises(ValidationError, match="scale"):
        PipelineConfig(scale=0)
    assert PipelineConfig(roi=(10, 20, 300, 200)).roi == (10, 20, 300, 200)


def test_a_read_says_when_its_label_was_first_located_and_first_read() -> None:
    # Entering from the left: located while cut by the border, read once whole.
    frames = [frame(place(datamatrix(GOOD_HRI, scale=3), (640, 360), -60 + 30 * i, 60), i)
              for i in range(8)]  # fmt: skip
    pipeline = ScanPipeline(PipelineConfig())

    (passage,) = run(pipeline, frames)

    assert passage.first_frame is not None
    assert passage.first_frame_in_view is not None
    assert passage.first_frame_in_view < passage.first_frame
