"""Motion-JPEG streams over real HTTP: garbled pictures are skipped and counted, stalls end."""

from __future__ import annotations

import time
from collections.abc import Iterator

import cv2
import numpy as np
import pytest

from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.jpeg_stream import MAX_CORRUPT_RUN, decode_picture
from linetrace.edge.camera.sources import open_source
from linetrace.ports import free_port
from tests.system.mjpeg_server import GARBAGE, MjpegCamera

FPS = 50.0


def jpeg(level: int) -> bytes:
    ok, data = cv2.imencode(".jpg", np.full((240, 320, 3), level, dtype=np.uint8))
    assert ok
    return data.tobytes()


@pytest.fixture
def camera() -> Iterator[MjpegCamera]:
    with MjpegCamera([jpeg(level) for level in (40, 120, 200)], FPS, free_port()) as served:
        yield served


def test_a_picture_decodes_grey_or_colour_and_garbage_does_not() -> None:
    packet = np.frombuffer(jpeg(120), dtype=np.uint8).reshape(1, -1)
    grey = decode_picture(packet, grey=True)
    colour = decode_picture(packet, grey=False)
    assert grey is not None
    assert grey.shape == (240, 320)
    assert colour is not None
    assert colour.shape == (240, 320, 3)
    assert decode_picture(np.frombuffer(GARBAGE, dtype=np.uint8), grey=True) is None
    assert decode_picture(np.zeros(0, dtype=np.uint8), grey=True) is None
    assert decode_picture(None, grey=True) is None


def test_garbled_pictures_are_skipped_and_counted_and_the_stream_goes_on(
    camera: MjpegCamera,
) -> None:
    with open_source(camera.url, luma=True, read_timeout_s=2.0) as source:
        frames = iter(source)
        next(frames)
        camera.corrupt(3)
        sent = camera.garbage_sent
        after = [next(frames) for _ in range(int(FPS))]  # a second more of the stream
        assert camera.garbage_sent == sent + 3
        assert source.skipped == 3
    assert all(frame.image.shape == (240, 320) for frame in after)  # grey, as asked
    assert [frame.index for frame in after] == list(range(1, len(after) + 1))


def test_a_stream_of_nothing_but_garbage_fails_to_be_reopened(camera: MjpegCamera) -> None:
    with open_source(camera.url, read_timeout_s=2.0) as source:
        frames = iter(source)
        assert next(frames).image.shape == (240, 320, 3)
        camera.corrupt(MAX_CORRUPT_RUN + 10)
        with pytest.raises(SourceError, match="in a row that do not decode"):
            list(frames)
        assert source.skipped == MAX_CORRUPT_RUN


def test_a_stalled_stream_ends_after_its_read_timeout(camera: MjpegCamera) -> None:
    with open_source(camera.url, read_timeout_s=0.5) as source:
        frames = iter(source)
        next(frames)
        camera.stall()
        stalled_at = time.monotonic()
        rest = list(frames)  # ends once the read times out
    assert len(rest) <= FPS  # what was under way when it stalled, at most
    assert time.monotonic() - stalled_at >= 0.5


def test_a_stream_that_is_down_cannot_be_opened(camera: MjpegCamera) -> None:
    camera.go_down()
    with pytest.raises(SourceError, match="cannot open stream"):
        open_source(camera.url, read_timeout_s=0.5)
    camera.come_back()
    with open_source(camera.url, read_timeout_s=2.0) as source:
        assert next(iter(source)).image.shape == (240, 320, 3)
