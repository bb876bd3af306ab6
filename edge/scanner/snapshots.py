"""Encoding no-read snapshots off the scan loop: the JPEG is made on a thread of its own.

A no-read's picture is encoded when its region closes, in the loop that observes every
frame in order. Encoding costs little for a small, clean crop but tens of milliseconds for
a large or noisy one, more when it must be re-encoded smaller to fit the contract's bound
(``bench/edge_snapshot.py``: a 600x800 worn crop took about 34 ms, a frame's whole budget
at 30 fps). So the pipeline hands the crop here and goes on; the no-read is handed back,
with its JPEG, from a later call once the encoding is done (OpenCV's encoder releases the
GIL, so the thread runs beside the loop), and ``finish`` waits for every one. The size
bound is :func:`~linetrace.edge.vision.snapshot.encode_snapshot`'s, unchanged.

At most :data:`MAX_PENDING` pictures wait: past it the loop waits for the oldest, so a
burst of no-reads cannot hold crops in memory without bound.
"""

from __future__ import annotations

import time
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import TYPE_CHECKING

from linetrace.edge.line.passage import Passage
from linetrace.edge.vision.snapshot import encode_snapshot

if TYPE_CHECKING:
    from linetrace.edge.vision.snapshot import Image

__all__ = ["MAX_PENDING", "SnapshotEncoder"]

# Far more than a line's no-reads in one frame interval; a crop is at most a few MB.
MAX_PENDING = 16


def _encode(crop: Image) -> tuple[bytes | None, float]:
    started = time.perf_counter()
    return encode_snapshot(crop), time.perf_counter() - started


class SnapshotEncoder:
    """No-read passages in, the same passages with their JPEG out, in the order given."""

    def __init__(self, max_pending: int = MAX_PENDING) -> None:
        self._max_pending = max_pending
        self._pool: ThreadPoolExecutor | None = None
        self._pending: deque[tuple[int, Passage, Future[tuple[bytes | None, float]]]] = deque()
        self.seconds = 0.0  # spent encoding, on the encoder's thread

    def submit(self, order: int, passage: Passage, crop: Image | None) -> None:
        """Encode ``crop`` for ``passage`` (``order``: where it sorts among passages)."""
        future: Future[tuple[bytes | None, float]]
        if crop is None:
            future = Future()
            future.set_result((None, 0.0))
        else:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(1, thread_name_prefix="noread-snapshot")
            future = self._pool.submit(_encode, crop)
        self._pending.append((order, passage, future))

    def ready(self) -> list[tuple[int, Passage]]:
        """The passages whose pictures are done (waiting only past ``max_pending``)."""
        done = []
        while self._pending and (
            self._pending[0][2].done() or len(self._pending) > self._max_pending
        ):
            done.append(self._take())
        return done

    def drain(self) -> list[tuple[int, Passage]]:
        """Every passage still waiting, once its picture is done; the thread then ends."""
        done = [self._take() for _ in range(len(self._pending))]
        if self._pool is not None:
            self._pool.shutdown(wait=False)
            self._pool = None
        return done

    def _take(self) -> tuple[int, Passage]:
        order, passage, future = self._pending.popleft()
        snapshot, seconds = future.result()
        self.seconds += seconds
        return order, replace(passage, snapshot=snapshot)
