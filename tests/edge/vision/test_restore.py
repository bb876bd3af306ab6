"""Restoring thin, blurred symbols: bar profiles taken exactly upright, blur divided out."""

from __future__ import annotations

from dataclasses import replace

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from linetrace.edge.vision.locate import Locator, rectify
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.restore import Blur, bar_profile, deblurred, stretched
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import GOOD_HRI, datamatrix
from tests.edge.scenes import EAN13, ean13, gs1_128, place, turned
from tests.edge.vision.worn import Wear, worn

# 1.5 px modules turned 30 degrees, a 2.8 px smear and a lens blur of sigma 1.1 across
# them, noise and JPEG at 45: neither the plain cut-out nor the sharpened one reads.
THIN_AND_BLURRED = Wear(scale=0.375, motion_px=2.8, sigma_px=1.1, noise=10.0, quality=45)


def sharpness(values: npt.NDArray[np.floating]) -> float:
    return float(np.square(np.diff(values)).sum())


@pytest.mark.parametrize("seed", [0, 1])
def test_a_thin_turned_blurred_ean13_reads_only_once_its_bars_are_restored(seed: int) -> None:
    frame = worn(place(turned(ean13(scale=4), 30), (1400, 900), 100, 100), THIN_AND_BLURRED, seed)

    without = FrameReader(PipelineConfig(restore=False)).read(frame)
    restored = FrameReader(PipelineConfig()).read(frame)

    assert without.symbols == []
    assert [(s.symbology, s.text) for s in restored.symbols] == [("EAN13", EAN13)]
    (symbol,) = restored.symbols
    (region,) = [s.region for s in restored.sightings if s.symbols]
    assert region.holds(symbol.centre, 8.0)  # mapped back onto the frame


def test_the_profile_is_taken_with_the_bars_exactly_upright() -> None:
    scene = place(turned(gs1_128(scale=3), 20), (900, 700), 60, 40)
    frame = np.asarray(cv2.cvtColor(scene, cv2.COLOR_BGR2GRAY), np.uint8)
    (region,) = Locator().locate(frame)
    assert region.bars is not None
    off = replace(region, bars=region.bars + 3.0)  # the locator's angle, 3 degrees out

    profile = bar_profile(frame, off, 2.0)
    leaning = rectify(frame, off, stretch=2.0)[0].mean(axis=0, dtype=np.float32)
    best = max(
        sharpness(
            rectify(frame, replace(region, bars=region.bars + d), stretch=2.0)[0].mean(axis=0)
        )
        for d in np.arange(-3.0, 3.01, 0.25)
    )

    assert profile is not None
    assert sharpness(profile.values) > 2 * sharpness(leaning)
    assert sharpness(profile.values) > 0.9 * best
    assert profile.top < profile.bottom


def test_deblurring_brings_back_what_a_known_blur_took() -> None:
    sharp = datamatrix(GOOD_HRI, scale=3).astype(np.float32)
    blur = Blur(motion_px=2.0, sigma_px=1.1, noise=0.01)
    smear = np.array([[0.25, 0.5, 0.25]], np.float32)  # 2 px long, half weights at the ends
    blurred = cv2.GaussianBlur(cv2.filter2D(sharp, -1, smear), (0, 0), blur.sigma_px)

    restored = deblurred(np.clip(blurred, 0, 255).astype(np.uint8), blur)

    error_before = float(np.abs(blurred - sharp).mean())
    error_after = float(np.abs(restored.astype(np.float32) - sharp).mean())
    assert error_after < 0.6 * error_before


def test_stretching_spans_the_full_range_between_outer_percentiles() -> None:
    image = np.tile(np.arange(100, 151, dtype=np.uint8), (20, 1))

    out = stretched(image)

    assert out.min() == 0
    assert out.max() == 255
    assert np.all(np.diff(out[0].astype(int)) >= 0)  # order kept
