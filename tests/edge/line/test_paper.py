"""Telling parts of one label from parts of two: label paper joins them, the belt does not."""

from __future__ import annotations

import cv2
import numpy as np

from linetrace.edge.line.paper import GAP_RUN_PX, joined
from linetrace.edge.vision.locate import Region
from tests.edge.barcodes import Image

BELT, PAPER, STICKER, INK = 70, 230, 205, 30


def patch(x: float, y: float, size: tuple[float, float] = (40.0, 40.0)) -> Region:
    return Region((x, y), size, 0.0, None, 0.1, 200.0, False)


def belt_with(*cards: tuple[int, int, int, int]) -> Image:
    """A belt with white label cards (x0, y0, x1, y1) on it."""
    image = np.full((300, 900), BELT, np.uint8)
    for x0, y0, x1, y1 in cards:
        cv2.rectangle(image, (x0, y0), (x1, y1), PAPER, cv2.FILLED)
    return image


def test_two_parts_of_one_card_are_joined_across_a_sticker() -> None:
    image = belt_with((50, 50, 650, 250))
    cv2.rectangle(image, (200, 60), (500, 240), STICKER, cv2.FILLED)
    cv2.putText(image, "-20%", (260, 160), cv2.FONT_HERSHEY_SIMPLEX, 1.5, 90, 2)

    assert joined(image, patch(120, 150), patch(580, 150))


def test_labels_on_two_boxes_are_apart_however_close() -> None:
    image = belt_with((50, 50, 300, 250), (300 + GAP_RUN_PX + 10, 50, 600, 250))

    assert not joined(image, patch(200, 150), patch(450, 150))


def test_printed_bars_crossed_at_a_slant_do_not_part_a_label() -> None:
    # The two guard bars a sticker leaves of a covered EAN-13, nearly along the line
    # between two regions: the line runs through ink for far longer than any gap, but
    # paper lies beside the bars all along.
    image = belt_with((50, 50, 850, 250))
    for offset in (-4, 4):
        cv2.line(image, (150, 140 + offset), (750, 160 + offset), INK, 2)

    assert joined(image, patch(100, 150), patch(800, 150))


def test_regions_that_touch_are_joined() -> None:
    image = belt_with((50, 50, 300, 250))

    assert joined(image, patch(150, 150), patch(185, 150))


def test_what_lies_outside_the_frame_cannot_join() -> None:
    image = belt_with((0, 50, 300, 250))

    assert not joined(image, patch(-60, 150), patch(200, 150))
