"""The symbol locator: where the codes are, which way their bars run, and the cut-outs."""

from __future__ import annotations

import math

import cv2
import numpy as np
import pytest
import zxingcpp

from linetrace.edge.camera.images import shrink
from linetrace.edge.vision.locate import CELL_PX, Locator, Region, crop, rectify
from tests.edge.barcodes import GOOD_HRI, Image, datamatrix
from tests.edge.scenes import EAN13, SSCC_HRI, ean13, gs1_128, place, turned


def gray(frame: Image) -> Image:
    return np.asarray(cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY), np.uint8)


def texts(image: Image, *, rotate: bool = False) -> list[str]:
    return [b.text for b in zxingcpp.read_barcodes(image, try_rotate=rotate)]


@pytest.mark.parametrize("degrees", [0, 20, 30, 60, 90, 160])
def test_a_turned_linear_code_is_found_with_the_angle_of_its_bars(degrees: int) -> None:
    frame = gray(place(turned(gs1_128(), degrees), (900, 700), 60, 40))

    (region,) = Locator().locate(frame)

    assert region.bars is not None
    assert region.coherence > 0.8
    # The gradient runs across the bars: the code's own turn, modulo a half turn.
    apart = abs((region.bars + degrees) % 180.0)
    assert min(apart, 180.0 - apart) < 6.0
    assert not region.edge


def test_rectifying_reads_a_linear_code_that_scan_lines_miss() -> None:
    frame = gray(place(turned(gs1_128(), 30), (900, 700), 60, 40))
    (region,) = Locator().locate(frame)

    upright, back = rectify(frame, region)

    assert texts(frame, rotate=True) == []  # no straight line crosses every bar
    assert texts(upright) == [SSCC_HRI]  # rows of the cut-out do
    # The map back puts the cut-out's centre on the region's centre.
    centre = np.array([upright.shape[1] / 2, upright.shape[0] / 2, 1.0])
    assert np.allclose(back @ centre, region.centre, atol=2.0)


def test_a_matrix_code_has_no_bars_and_is_cut_out_unturned() -> None:
    symbol = turned(datamatrix(GOOD_HRI, scale=3), 25)
    frame = gray(place(symbol, (640, 480), 200, 150))

    (region,) = Locator().locate(frame)
    cut, back = crop(frame, region)

    assert region.bars is None
    assert region.coherence < 0.2
    assert texts(cut, rotate=True) == [GOOD_HRI]
    assert back[0, 0] == 1.0
    assert back[1, 1] == 1.0


def test_each_of_several_symbols_is_its_own_region() -> None:
    frame = place(ean13(), (1000, 600), 40, 60)
    frame[300:, 500:] = place(datamatrix(GOOD_HRI, scale=3), (500, 300), 150, 60)

    regions = Locator().locate(gray(frame))

    assert len(regions) == 2
    assert sorted(region.bars is None for region in regions) == [False, True]


def test_belt_noise_box_edges_and_blank_frames_hold_no_regions() -> None:
    rng = np.random.default_rng(1)
    frame = np.clip(70 + rng.normal(0, 6, (480, 640)), 0, 255).astype(np.uint8)
    cv2.rectangle(frame, (100, 100), (400, 300), 150, 2)  # a box edge: one thin line

    assert Locator().locate(frame) == []
    assert Locator().locate(np.full((480, 640), 255, np.uint8)) == []
    assert Locator().locate(np.zeros((8, 8), np.uint8)) == []  # smaller than two cells


def test_a_symbol_cut_by_the_border_is_marked_as_such() -> None:
    frame = gray(place(ean13(), (600, 400), -60, 100))

    (region,) = Locator().locate(frame)

    assert region.edge


def test_locator_refuses_bad_settings_and_colour_images() -> None:
    with pytest.raises(ValueError, match="density"):
        Locator(density=0)
    with pytest.raises(ValueError, match="min_cells"):
        Locator(min_cells=0)
    with pytest.raises(ValueError, match="grayscale"):
        Locator().locate(np.zeros((100, 100, 3), np.uint8))


def test_region_geometry() -> None:
    region = Region((100.0, 50.0), (40.0, 20.0), 30.0, None, 0.1, 200.0, False)

    assert region.extent == 40.0
    assert region.area == 800.0
    assert region.holds((100.0, 50.0))
    along = (100 + 19 * math.cos(math.radians(30)), 50 + 19 * math.sin(math.radians(30)))
    assert region.holds(along)
    assert not region.holds((100.0, 75.0))
    assert region.holds((100.0, 62.0), tolerance=CELL_PX)
    x0, y0, x1, y1 = region.bounds(5)
    assert x0 < 80
    assert x1 > 120
    assert y0 < 35
    assert y1 > 65
    assert region.moved(10, -5).centre == (110.0, 45.0)
    assert region.scaled(2.0).size == (80.0, 40.0)


def test_shrink_halves_with_means_and_drops_an_odd_edge() -> None:
    image = np.arange(7 * 9, dtype=np.uint8).reshape(7, 9)

    half = shrink(image, 1)

    assert half.shape == (3, 4)
    assert half[0, 0] == round(np.mean(image[:2, :2]))
    assert shrink(image, 5).shape == (1, 2)  # stops before a side would vanish


def test_an_ean13_upright_reads_after_rectifying() -> None:
    frame = gray(place(turned(ean13(), 90), (700, 700), 100, 100))
    (region,) = Locator().locate(frame)

    upright, _ = rectify(frame, region)

    assert texts(upright) == [EAN13]
