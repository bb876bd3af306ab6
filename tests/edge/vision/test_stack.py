"""Combining a label's views over several frames: aligned on the latest, noise averaged."""

from __future__ import annotations

import cv2
import numpy as np

from linetrace.edge.vision.locate import Region
from linetrace.edge.vision.stack import FIRST_STACK, STACK_EVERY, STACK_VIEWS, ViewStack
from tests.edge.barcodes import GOOD_HRI, Image, datamatrix

SYMBOL = datamatrix(GOOD_HRI, scale=2)


def scene(dx: float, noise: float, seed: int) -> Image:
    """The symbol on a grey frame, shifted ``dx`` px to the right, with sensor noise."""
    frame = np.full((200, 300), 180, np.float32)
    h, w = SYMBOL.shape
    frame[50 : 50 + h, 100 : 100 + w] = SYMBOL
    shift = np.array([[1.0, 0.0, dx], [0.0, 1.0, 0.0]], np.float32)
    moved = np.asarray(
        cv2.warpAffine(frame, shift, (300, 200), borderMode=cv2.BORDER_REPLICATE), np.float32
    )
    moved += np.random.default_rng(seed).normal(0.0, noise, moved.shape).astype(np.float32)
    return np.asarray(np.clip(moved, 0, 255), np.uint8)


def around(dx: float, wobble: float = 0.0) -> Region:
    """The symbol's region in :func:`scene`, its outline off by ``wobble`` px."""
    h, w = SYMBOL.shape
    return Region((100 + w / 2 + dx + wobble, 50 + h / 2), (w, h), 0.0, None, 0.1, 200.0, False)


def test_views_are_aligned_on_the_latest_and_their_noise_averaged() -> None:
    stack = ViewStack(around(0.0))
    shifts = [0.0, 3.4, 7.9, 11.5, 15.2, 18.6]  # the belt moves, by fractions of a pixel
    wobbles = [0.0, 2.0, -1.5, 3.0, -2.5, 0.0]  # and the outline wobbles
    for index, (dx, wobble) in enumerate(zip(shifts, wobbles, strict=True)):
        stack.add(scene(dx, 20.0, index), around(dx, wobble))

    combined = stack.combined().astype(np.float32)
    clean = cv2.getRectSubPix(scene(shifts[-1], 0.0, 0), stack.size, around(shifts[-1]).centre)
    single = cv2.getRectSubPix(scene(shifts[-1], 20.0, 9), stack.size, around(shifts[-1]).centre)

    error_one = float(np.abs(single.astype(np.float32) - clean).mean())
    error_all = float(np.abs(combined - clean).mean())
    assert combined.shape == clean.shape
    assert error_all < 0.6 * error_one


def test_a_view_that_would_need_a_long_shift_is_left_out() -> None:
    stack = ViewStack(around(0.0))
    stack.add(scene(0.0, 0.0, 0), around(0.0))
    stack.add(scene(0.0, 0.0, 0), around(0.0))
    stack.add(scene(30.0, 0.0, 0), around(0.0))  # the tracker followed another patch

    combined = stack.combined()
    latest = cv2.getRectSubPix(scene(30.0, 0.0, 0), stack.size, around(0.0).centre)

    # Both earlier views lie 30 px off the latest: only the latest is left.
    assert np.array_equal(combined, latest)


def test_views_are_due_once_enough_have_come_and_again_after_more() -> None:
    stack = ViewStack(around(0.0))
    due = []
    for index in range(FIRST_STACK + 2 * STACK_EVERY):
        stack.add(scene(0.0, 5.0, index), around(0.0))
        if stack.due():
            stack.combined()
            due.append(index + 1)

    assert due == [FIRST_STACK, FIRST_STACK + STACK_EVERY, FIRST_STACK + 2 * STACK_EVERY]
    assert len(stack) == min(STACK_VIEWS, FIRST_STACK + 2 * STACK_EVERY)
