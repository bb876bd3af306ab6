"""No-read snapshots are encoded off the scan loop and handed back in order, bounded."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import numpy as np
import pytest

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner import snapshots
from linetrace.edge.scanner.snapshots import SnapshotEncoder
from linetrace.edge.vision.snapshot import MAX_SNAPSHOT_BYTES
from tests.conditions import wait_until

NOW = datetime(2026, 12, 5, 8, 0, tzinfo=UTC)


def noread(frames: int) -> Passage:
    return Passage(EventKind.NOREAD, NOW, NOW, frames=frames)


def crop(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (96, 128), dtype=np.uint8)


def test_pictures_come_back_in_order_as_bounded_jpegs() -> None:
    encoder = SnapshotEncoder()
    for n in range(1, 4):
        encoder.submit(n, noread(n), crop(n))
    encoder.submit(4, noread(4), None)  # the edge kept no view: no picture, still a no-read
    found: list[tuple[int, Passage]] = []

    def all_back() -> bool:
        found.extend(encoder.ready())
        return len(found) == 4

    wait_until(all_back, message="the pictures did not come back")
    assert [order for order, _ in found] == [1, 2, 3, 4]
    assert [p.frames for _, p in found] == [1, 2, 3, 4]
    for _, passage in found[:3]:
        assert passage.snapshot is not None
        assert passage.snapshot.startswith(b"\xff\xd8\xff")
        assert len(passage.snapshot) <= MAX_SNAPSHOT_BYTES
    assert found[3][1].snapshot is None
    assert encoder.seconds > 0


def test_the_loop_does_not_wait_for_an_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    release = threading.Event()

    def slow(image: np.ndarray) -> bytes:
        release.wait(30)
        return b"\xff\xd8\xff-slow"

    monkeypatch.setattr(snapshots, "encode_snapshot", slow)
    encoder = SnapshotEncoder(max_pending=4)
    encoder.submit(1, noread(1), crop(1))
    assert encoder.ready() == []  # returned at once, the picture still being made
    release.set()
    [(order, passage)] = encoder.drain()  # finish waits for it
    assert (order, passage.snapshot) == (1, b"\xff\xd8\xff-slow")


def test_past_the_bound_the_loop_waits_for_the_oldest() -> None:
    encoder = SnapshotEncoder(max_pending=2)
    for n in range(5):
        encoder.submit(n, noread(n + 1), crop(n))
    taken = encoder.ready()
    assert len(encoder.drain()) + len(taken) == 5
    assert len(taken) >= 3  # at most two were left waiting
