"""The capture process: back-pressure offline, counted drops live, and the watchdog."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import pytest

from linetrace.edge.camera.capture import Capture
from linetrace.edge.camera.capture_messages import Captured, Notice, SourceSpec
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.frame_source import FrameSource, SourceError
from linetrace.edge.camera.settings import CaptureConfig
from linetrace.edge.camera.sources import open_source
from tests.edge.barcodes import Image

SIZE = (64, 48)
# Generous bounds for a loaded machine; each test takes a fraction of them.
DEADLINE_S = 30.0


def shade(level: int) -> Image:
    image = np.full((SIZE[1], SIZE[0], 3), level % 256, np.uint8)
    cv2.putText(image, str(level), (2, 30), cv2.FONT_HERSHEY_SIMPLEX, 0.8, (255, 0, 0), 2)
    return image


def write_video(path: Path, frames: int, fps: float) -> Path:
    writer = cv2.VideoWriter(str(path), cv2.VideoWriter.fourcc(*"MJPG"), fps, SIZE)
    assert writer.isOpened()
    for index in range(frames):
        writer.write(shade(index * 7))
    writer.release()
    return path


def write_folder(path: Path, frames: int, *, same: bool = False) -> Path:
    path.mkdir()
    for index in range(frames):
        assert cv2.imwrite(str(path / f"{index:04d}.png"), shade(0 if same else index * 7))
    return path


def drain(
    capture: Capture, *, hold_s: float = 0.0, deadline_s: float = DEADLINE_S
) -> list[Captured]:
    """Every frame until the capture ends, holding each slot ``hold_s`` (a slow decoder)."""
    frames: list[Captured] = []
    deadline = time.monotonic() + deadline_s
    while capture.ended is None:
        assert time.monotonic() < deadline, "capture did not end"
        received = capture.receive()
        if not received:
            capture.connection.poll(0.05)
            capture.check()
        for captured in received:
            frames.append(captured)
            if captured.slot is not None:
                time.sleep(hold_s)
                capture.release(captured.slot)
    return frames


def started(capture: Capture) -> Capture:
    capture.start()
    return capture


def test_as_fast_as_possible_drops_nothing_however_slow_decoding_is(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", 30, 25.0)
    capture = started(Capture(SourceSpec(str(video)), CaptureConfig(ring_slots=2),
                              skip_still=False))  # fmt: skip
    try:
        frames = drain(capture, hold_s=0.02)
        counts = capture.counts()
    finally:
        capture.stop()

    assert [f.index for f in frames] == list(range(30))
    assert counts.captured == 30
    assert counts.dropped == 0
    assert capture.ended is not None
    assert not capture.ended.failed
    assert frames[1].mono == pytest.approx(1 / 25)  # media time, offline


def test_live_pace_with_a_slow_decoder_drops_and_counts_but_never_waits(tmp_path: Path) -> None:
    video = write_video(tmp_path / "v.avi", 60, 100.0)  # 0.6 s of footage
    spec = SourceSpec(str(video), realtime=True)
    capture = started(Capture(spec, CaptureConfig(ring_slots=2), skip_still=False))
    try:
        began = time.monotonic()
        frames = drain(capture, hold_s=0.05)  # 20 frames/s of decoding for 100 of footage
        took = time.monotonic() - began
        counts = capture.counts()
    finally:
        capture.stop()

    assert counts.dropped > 0
    assert counts.captured + counts.dropped == 60
    assert len(frames) == counts.captured
    # Capture kept the camera's pace: it did not wait 60 x 50 ms for the decoder.
    assert took < 60 * 0.05
    indices = [f.index for f in frames]
    assert indices == sorted(indices)
    assert len(set(indices)) == len(indices)


@dataclass(frozen=True)
class FailsOnce:
    """A folder that fails after ``fail_at`` frames the first time it is read, then works
    (as a camera that drops out once); ``marker`` remembers the failure across processes."""

    folder: str
    fail_at: int
    marker: str

    def __call__(self, first_index: int) -> FrameSource:
        source = open_source(self.folder, fps=10.0, first_index=first_index)
        if Path(self.marker).exists():
            return source
        return _Failing(source, self.fail_at, self.marker)


class _Failing(FrameSource):
    def __init__(self, inner: FrameSource, fail_at: int, marker: str) -> None:
        super().__init__(inner.description, inner.fps)
        self._inner, self._fail_at, self._marker = inner, fail_at, marker

    def _generate(self) -> Iterator[Frame]:
        for count, frame in enumerate(self._inner):
            if count == self._fail_at:
                Path(self._marker).touch()
                raise SourceError("the cable came loose")
            yield frame

    def close(self) -> None:
        super().close()
        self._inner.close()


@pytest.fixture
def importable_tests(monkeypatch: pytest.MonkeyPatch) -> None:
    """Let spawned processes import this module, to unpickle an opener defined here."""
    monkeypatch.syspath_prepend(str(Path(__file__).resolve().parents[3]))


@pytest.mark.usefixtures("importable_tests")
def test_the_watchdog_reopens_a_failed_source_and_resumes_where_it_was(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "shots", 12)
    notices: list[Notice] = []
    opener = FailsOnce(str(folder), 5, str(tmp_path / "failed-once"))
    config = CaptureConfig(backoff_s=0.05)
    capture = started(Capture(opener, config, skip_still=False, on_notice=notices.append))
    try:
        frames = drain(capture)
        counts = capture.counts()
    finally:
        capture.stop()

    assert [f.index for f in frames] == list(range(12))  # none lost, none twice
    assert counts.reconnects == 1
    assert counts.failures == 1
    assert not counts.alarm  # raised by the failure, cleared by the frames after it
    assert [n.kind for n in notices] == ["failed", "reconnected"]
    assert "cable came loose" in notices[0].message
    assert frames[6].mono == pytest.approx(0.6)  # times continue across the reopening


def test_a_source_that_cannot_open_fails_start_with_the_reason(tmp_path: Path) -> None:
    capture = Capture(SourceSpec(str(tmp_path / "missing.mp4")), CaptureConfig(),
                      skip_still=False)  # fmt: skip

    with pytest.raises(SourceError, match="no such file or folder"):
        capture.start()
    capture.stop()


def test_unchanged_frames_are_sent_as_still_without_a_slot(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "same", 6, same=True)
    capture = started(Capture(SourceSpec(str(folder), fps=10.0), CaptureConfig(),
                              skip_still=True))  # fmt: skip
    try:
        frames = drain(capture)
        counts = capture.counts()
    finally:
        capture.stop()

    assert [f.slot is None for f in frames] == [False] + [True] * 5
    assert (counts.captured, counts.still) == (1, 5)


def test_a_capture_process_that_dies_is_started_again(tmp_path: Path) -> None:
    folder = write_folder(tmp_path / "shots", 40)
    notices: list[Notice] = []
    capture = started(Capture(SourceSpec(str(folder), fps=10.0), CaptureConfig(ring_slots=2),
                              skip_still=False, on_notice=notices.append))  # fmt: skip
    try:
        first = capture.receive()
        while not first:
            capture.connection.poll(0.05)
            first = capture.receive()
        pid = capture.pid
        assert pid is not None
        os.kill(pid, signal.SIGKILL)
        for captured in first:  # observed meanwhile: the new process may use their slots
            assert captured.slot is not None
            capture.release(captured.slot)
        frames = first + drain(capture)
        counts = capture.counts()
    finally:
        capture.stop()

    assert counts.restarts == 1
    assert [n.kind for n in notices] == ["restarted"]
    indices = [f.index for f in frames]
    assert indices == sorted(set(indices))
    assert indices[-1] == 39
