"""A folder of images of different sizes: each delivered at its own size, the largest known
before the first, so the frame ring holds every one whole."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from linetrace.edge.camera.capture_process import _slot_shape
from linetrace.edge.camera.sources import open_source

SIZES = {"a.png": (240, 320), "b.jpg": (1944, 2592), "c.bmp": (1600, 1200), "d.webp": (480, 640)}


def test_a_folder_says_its_largest_image_and_delivers_each_at_its_size(tmp_path: Path) -> None:
    for name, (height, width) in SIZES.items():
        cv2.imwrite(str(tmp_path / name), np.full((height, width, 3), 128, np.uint8))
    (tmp_path / "e.jpg").write_bytes(b"not an image")  # skipped, as before

    with open_source(str(tmp_path)) as source:
        assert source.largest == (1944, 2592)
        shapes = [frame.image.shape[:2] for frame in source]
        assert source.skipped == 1

    assert shapes == list(SIZES.values())


def test_a_folder_started_later_measures_only_what_it_will_deliver(tmp_path: Path) -> None:
    for name, (height, width) in SIZES.items():
        cv2.imwrite(str(tmp_path / name), np.full((height, width), 128, np.uint8))

    with open_source(str(tmp_path), first_index=2) as source:
        assert source.largest == (1600, 1200)


def test_the_ring_slot_holds_the_first_frame_or_the_largest_announced() -> None:
    assert _slot_shape((480, 640, 3), None) == (480, 640)
    assert _slot_shape((480, 640), (1944, 2592)) == (1944, 2592)
    assert _slot_shape((1080, 1920), (240, 320)) == (1080, 1920)
