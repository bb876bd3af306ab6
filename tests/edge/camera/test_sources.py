"""Frame sources on real files: folders, images, videos, and the ones that cannot open."""

from __future__ import annotations

import logging
import time
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import cv2
import numpy as np
import pytest

from linetrace.edge.camera.clock import parse_utc_offset, station_timezone
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.sources import DEFAULT_FOLDER_FPS, open_source
from tests.edge.barcodes import Image

HANOI = timezone(timedelta(hours=7))
START = datetime(2026, 3, 1, 8, 0, tzinfo=HANOI)


def shade(level: int, size: tuple[int, int] = (48, 64)) -> Image:
    return np.full((*size, 3), level, dtype=np.uint8)


def write_video(path: Path, frames: int, fps: float = 25.0) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, (64, 48))
    assert writer.isOpened()
    for index in range(frames):
        writer.write(shade(index * 20))
    writer.release()
    return path


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    images = tmp_path / "shots"
    images.mkdir()
    for index, name in enumerate(["b.png", "a.png", "d.jpg", "e.bmp"]):
        assert cv2.imwrite(str(images / name), shade(40 * (index + 1)))
    (images / "c.png").write_bytes(b"this is not a png")  # corrupt
    (images / "notes.txt").write_text("ignored: not an image")
    return images


def test_folder_plays_images_in_name_order_skipping_the_corrupt_one(
    folder: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING), open_source(str(folder), start=START) as source:
        frames = list(source)

    # a b (c corrupt) d e: each image's own shade tells the order
    assert [int(f.image[0, 0, 0]) for f in frames] == [80, 40, 120, 160]
    assert source.skipped == 1
    assert "c.png" in caplog.text
    assert [f.index for f in frames] == [0, 1, 3, 4]


def test_folder_timing_follows_its_fps_and_the_station_offset(folder: Path) -> None:
    with open_source(str(folder), start=START, fps=5.0, utc_offset=timedelta(hours=7)) as source:
        frames = list(source)

    assert [f.mono for f in frames] == pytest.approx([0.0, 0.2, 0.6, 0.8])
    assert frames[1].wall == START + timedelta(seconds=0.2)
    assert all(f.wall.utcoffset() == timedelta(hours=7) for f in frames)
    assert source.fps == 5.0


def test_folder_defaults_to_one_image_per_second(folder: Path) -> None:
    with open_source(str(folder)) as source:
        assert source.fps == DEFAULT_FOLDER_FPS
        assert [f.mono for f in source][:2] == [0.0, 1.0]


def test_folder_without_images_is_an_error(tmp_path: Path) -> None:
    (tmp_path / "readme.txt").write_text("no images here")

    with pytest.raises(SourceError, match="holds no images"):
        open_source(str(tmp_path))


def test_single_image_is_one_frame(tmp_path: Path) -> None:
    path = tmp_path / "one.png"
    cv2.imwrite(str(path), shade(99))

    with open_source(str(path), start=START, utc_offset=HANOI) as source:
        frames = list(source)

    assert len(frames) == 1
    assert frames[0].image.shape == (48, 64, 3)
    assert (frames[0].index, frames[0].mono, frames[0].wall) == (0, 0.0, START)


def test_corrupt_single_image_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "broken.jpg"
    path.write_bytes(b"\xff\xd8 truncated")

    with pytest.raises(SourceError, match=r"broken\.jpg"):
        open_source(str(path))


def test_video_file_gives_media_time_as_mono_and_start_plus_media_as_wall(
    tmp_path: Path,
) -> None:
    video = write_video(tmp_path / "clip.avi", frames=6, fps=25.0)

    with open_source(str(video), start=START, utc_offset=HANOI) as source:
        frames = list(source)

    assert source.fps == pytest.approx(25.0)
    assert [f.index for f in frames] == list(range(6))
    assert [f.mono for f in frames] == pytest.approx([i / 25.0 for i in range(6)])
    assert frames[5].wall == START + timedelta(seconds=5 / 25.0)
    assert frames[5].wall.utcoffset() == timedelta(hours=7)
    assert frames[0].image.dtype == np.uint8
    assert frames[0].image.shape == (48, 64, 3)


def test_naive_start_is_read_in_the_station_zone(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=1)

    with open_source(str(video), start=datetime(2026, 3, 1, 8, 0), utc_offset=HANOI) as source:
        (first,) = list(source)

    assert first.wall == START


def test_realtime_video_is_paced_to_its_frame_rate_with_a_live_clock(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=6, fps=50.0)
    before = datetime.now(UTC)
    started = time.monotonic()

    with open_source(str(video), realtime=True, utc_offset=HANOI) as source:
        frames = list(source)
    elapsed = time.monotonic() - started

    assert elapsed >= 5 / 50.0 * 0.9  # six frames at 50 fps span 0.1 s
    assert len(frames) + source.dropped == 6
    assert all(started <= f.mono <= started + elapsed for f in frames)
    assert frames[0].wall >= before
    assert frames[0].wall.utcoffset() == timedelta(hours=7)


def test_realtime_drops_the_frames_a_slow_reader_missed(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=10, fps=100.0)

    with open_source(str(video), realtime=True) as source:
        kept = []
        for frame in source:
            kept.append(frame.index)
            time.sleep(0.035)  # a reader three and a half frames slow

    assert source.dropped > 0
    assert len(kept) + source.dropped == 10
    assert kept == sorted(kept)
    assert kept[0] == 0


def test_closing_a_source_ends_its_frames(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=5)
    source = open_source(str(video))
    next(source)
    source.close()

    assert list(source) == []


def test_missing_path_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match=r"no such file or folder: nowhere/clip\.mp4"):
        open_source("nowhere/clip.mp4")


def test_a_file_that_is_not_a_video_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "fake.mp4"
    path.write_text("not a video")

    with pytest.raises(SourceError, match=r"fake\.mp4"):
        open_source(str(path))


def test_missing_camera_is_a_clear_error() -> None:
    with pytest.raises(SourceError, match="cannot open camera 97"):
        open_source("97")


def test_unreachable_stream_is_a_clear_error_without_its_password(port: int) -> None:
    started = time.monotonic()

    with pytest.raises(SourceError, match="cannot open stream") as caught:
        open_source(f"rtsp://operator:secret@127.0.0.1:{port}/line1")

    assert "secret" not in str(caught.value)
    assert "operator:***@" in str(caught.value)
    assert time.monotonic() - started < 10  # refused at once, not after a long hang


def test_fps_must_be_positive(folder: Path) -> None:
    with pytest.raises(SourceError, match="fps"):
        open_source(str(folder), fps=0)


@pytest.mark.parametrize(
    ("text", "offset"),
    [
        ("+07:00", timedelta(hours=7)),
        ("-0330", -timedelta(hours=3, minutes=30)),
        ("Z", timedelta(0)),
        ("utc", timedelta(0)),
    ],
)
def test_parse_utc_offset(text: str, offset: timedelta) -> None:
    assert parse_utc_offset(text).utcoffset(None) == offset


@pytest.mark.parametrize("text", ["7", "+7:00", "+24:00", "+07:60", "Asia/Hanoi", ""])
def test_parse_utc_offset_refuses_what_is_not_an_offset(text: str) -> None:
    with pytest.raises(ValueError, match="UTC offset"):
        parse_utc_offset(text)


def test_station_timezone_accepts_offsets_zones_and_defaults_to_local() -> None:
    assert station_timezone(timedelta(hours=7)).utcoffset(None) == timedelta(hours=7)
    assert station_timezone(HANOI) is HANOI
    assert station_timezone(None).utcoffset(datetime.now()) is not None


def test_a_reopened_file_resumes_at_its_frame_with_the_same_times(tmp_path: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=8, fps=25.0)

    with open_source(str(video), start=START, first_index=5) as source:
        frames = list(source)

    assert [f.index for f in frames] == [5, 6, 7]
    assert [int(f.image[0, 0, 0]) for f in frames] == pytest.approx([100, 120, 140], abs=4)
    assert frames[0].mono == pytest.approx(5 / 25.0)
    assert frames[0].wall == START + timedelta(seconds=5 / 25.0)


def test_a_reopened_folder_resumes_at_its_image(folder: Path) -> None:
    with open_source(str(folder), start=START, fps=5.0, first_index=3) as source:
        frames = list(source)

    assert [f.index for f in frames] == [3, 4]
    assert frames[0].mono == pytest.approx(0.6)


def test_a_negative_first_index_is_refused(folder: Path) -> None:
    with pytest.raises(SourceError, match="first_index"):
        open_source(str(folder), first_index=-1)


def test_luma_frames_are_the_grayscale_picture_straight_from_the_decoder(
    tmp_path: Path,
) -> None:
    video = tmp_path / "clip.mp4"
    writer = cv2.VideoWriter(str(video), cv2.VideoWriter.fourcc(*"mp4v"), 25.0, (64, 48))
    assert writer.isOpened()
    for index in range(4):
        writer.write(shade(40 + 40 * index))
    writer.release()

    with open_source(str(video), luma=True) as source:
        luma = list(source)
    with open_source(str(video)) as source:
        colour = list(source)

    assert [f.image.shape for f in luma] == [(48, 64)] * 4
    assert [f.image.shape for f in colour] == [(48, 64, 3)] * 4
    for gray, bgr in zip(luma, colour, strict=True):
        # The same picture, its luminance in video range (16-235) rather than full range.
        expected = 16 + cv2.cvtColor(bgr.image, cv2.COLOR_BGR2GRAY).astype(float) * 219 / 255
        assert np.abs(gray.image.astype(float) - expected).mean() < 3


def test_sources_say_whether_they_are_live_and_paced(tmp_path: Path, folder: Path) -> None:
    video = write_video(tmp_path / "clip.avi", frames=2)

    with open_source(str(video)) as offline, open_source(str(video), realtime=True) as paced:
        assert (offline.live, offline.realtime) == (False, False)
        assert (paced.live, paced.realtime) == (False, True)
    with open_source(str(folder), realtime=True) as shots:
        assert (shots.live, shots.realtime) == (False, True)
