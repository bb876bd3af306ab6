"""Decode workers: frames read in other processes, results put back in capture order."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import numpy as np
import pytest

from linetrace.edge.camera.ring import FrameRing, RingError
from linetrace.edge.scanner.decode_workers import (
    InlineWorkers,
    Outcome,
    Reorderer,
    Task,
    WorkerPool,
    Workers,
)
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Reading
from linetrace.edge.vision.settings import PipelineConfig
from tests.edge.barcodes import GOOD_HRI, Image, datamatrix
from tests.edge.scenes import ean13, place, turned

CONFIG = PipelineConfig()
SHAPE = (360, 640)
DEADLINE_S = 30.0


def scenes() -> list[Image]:
    """Gray frames, each with one symbol somewhere else (or none)."""
    symbols = [datamatrix(GOOD_HRI, scale=3), turned(ean13(), 20), None]
    frames: list[Image] = []
    for index in range(9):
        symbol = symbols[index % 3]
        image = np.full((*SHAPE, 3), 70, np.uint8)
        if symbol is not None:
            image = place(symbol, (SHAPE[1], SHAPE[0]), 20 + 30 * index, 40)
        frames.append(np.ascontiguousarray(image[:, :, 1]))
    return frames


@pytest.fixture
def ring() -> Iterator[FrameRing]:
    with FrameRing.create(9, SHAPE) as made:
        for slot, image in enumerate(scenes()):
            made.write(slot, image)
        yield made


def texts(reading: Reading | None) -> list[str]:
    assert reading is not None
    return sorted(symbol.text for symbol in reading.symbols)


def run_all(workers: Workers, tasks: list[Task], *, already: int = 0) -> list[Outcome]:
    """Submit every task as room allows; every outcome (``already`` submitted before these
    too), in capture order."""
    reorder = Reorderer()
    done: list[Outcome] = []
    pending = list(tasks)
    deadline = time.monotonic() + DEADLINE_S
    while len(done) < already + len(tasks):
        assert time.monotonic() < deadline, "outcomes missing"
        while pending and workers.has_room():
            workers.submit(pending.pop(0))
        done += reorder.add(workers.collect(0.05))
    return done


def test_reorderer_hands_outcomes_back_in_sequence() -> None:
    reorder = Reorderer()

    assert reorder.add([Outcome(2, None), Outcome(1, None)]) == []
    assert reorder.waiting == 2
    assert [o.seq for o in reorder.add([Outcome(0, None)])] == [0, 1, 2]
    reorder.skip(3)
    assert [o.seq for o in reorder.add([Outcome(4, None)])] == [3, 4]
    assert reorder.add([Outcome(1, None)]) == []  # already handed back: ignored


def test_worker_processes_read_what_the_reader_reads_in_capture_order(ring: FrameRing) -> None:
    tasks = [Task(seq, seq, SHAPE) for seq in range(9)]
    reader = FrameReader(CONFIG)
    expected = [texts(reader.read(ring.view(t.slot, t.shape))) for t in tasks]
    pool = WorkerPool(CONFIG, ring, 2)
    try:
        outcomes = run_all(pool, tasks)
    finally:
        pool.close()

    assert [o.seq for o in outcomes] == list(range(9))
    assert [texts(o.reading) for o in outcomes] == expected
    assert all(o.seconds > 0 for o in outcomes)
    assert sum(bool(e) for e in expected) == 6  # six frames hold a symbol


def test_inline_workers_read_the_same(ring: FrameRing) -> None:
    tasks = [Task(seq, seq, SHAPE) for seq in range(9)]
    reader = FrameReader(CONFIG)
    expected = [texts(reader.read(ring.view(t.slot, t.shape))) for t in tasks]

    outcomes = run_all(InlineWorkers(CONFIG, ring), tasks)

    assert [texts(o.reading) for o in outcomes] == expected


def test_a_frame_a_worker_cannot_read_is_reported_and_the_worker_lives_on(
    ring: FrameRing,
) -> None:
    pool = WorkerPool(CONFIG, ring, 1)
    try:
        outcomes = run_all(pool, [Task(0, 0, (4000, 4000)), Task(1, 1, SHAPE)])
    finally:
        pool.close()

    assert outcomes[0].reading is None
    assert "does not fit" in str(outcomes[0].error)
    assert outcomes[1].reading is not None
    assert pool.restarts == 0


def test_a_worker_that_dies_is_replaced_and_its_frames_read_by_another(
    ring: FrameRing,
) -> None:
    pool = WorkerPool(CONFIG, ring, 2)
    try:
        for seq in range(4):
            pool.submit(Task(seq, seq, SHAPE))
        pid = pool.pids[0]
        assert pid is not None
        os.kill(pid, signal.SIGKILL)  # with frames in flight
        outcomes = run_all(pool, [Task(seq, seq, SHAPE) for seq in range(4, 9)], already=4)
    finally:
        pool.close()

    assert pool.restarts == 1
    assert [o.seq for o in outcomes] == list(range(9))  # each frame once, none lost
    assert all(o.reading is not None for o in outcomes)


def test_the_ring_refuses_slots_and_frames_it_does_not_have() -> None:
    with FrameRing.create(2, (10, 10)) as ring:
        with pytest.raises(RingError, match="slot 2"):
            ring.view(2, (10, 10))
        with pytest.raises(RingError, match="does not fit"):
            ring.view(0, (11, 10))
        big = np.full((40, 20), 9, np.uint8)
        assert ring.write(1, big) == (14, 7)  # shrunk to fit, aspect kept
        assert int(ring.view(1, (14, 7))[0, 0]) == 9
    with pytest.raises(RingError, match="slots and a frame size"):
        FrameRing.create(0, (10, 10))
