"""One pool of decode workers for several cameras on one box.

A box that watches several cameras runs one scanner per camera (its capture process,
ring, tracking and passages are its own) but decodes every camera's frames in one pool
of :class:`~linetrace.edge.scanner.decode_workers.WorkerPool` processes, one per core
but one: per-camera pools would put 2N decode processes on N cores, each loading its own
decoders, and leave no say in how the cores are shared. Each scanner gets a
:class:`PoolClient`, which has the :class:`~linetrace.edge.scanner.decode_workers.Workers`
surface the scanner already drives; its tasks name its ring, the pool numbers them
uniquely, and a router thread hands each outcome back to the client it belongs to under
that client's own sequence number, waking it through a pipe. Each client may have as
many frames in flight as a pool of its own would allow, so one busy camera cannot starve
the others for longer than a few frames. A worker that dies is replaced by the pool as
usual and its frames go to the others.
"""

from __future__ import annotations

import contextlib
import itertools
import os
import threading
from collections import deque
from dataclasses import replace
from multiprocessing.connection import Connection, wait
from types import TracebackType
from typing import Self

from linetrace.edge.camera.ring import FrameRing
from linetrace.edge.scanner.decode_workers import (
    IN_FLIGHT_PER_WORKER,
    Outcome,
    Task,
    WorkerPool,
)
from linetrace.edge.scanner.worker_rings import RingRef
from linetrace.edge.vision.settings import PipelineConfig

__all__ = ["PoolClient", "SharedPool"]

# How long the router waits for an outcome before checking whether the pool is closing.
_ROUTER_TICK_S = 0.1


class SharedPool:
    """``count`` decode worker processes serving every camera's :class:`PoolClient`."""

    def __init__(self, config: PipelineConfig, count: int) -> None:
        self._pool = WorkerPool(config, None, count)
        self.count = count
        self._lock = threading.Lock()
        self._seqs = itertools.count()
        self._owners: dict[int, tuple[PoolClient, int]] = {}  # pool seq -> client, its seq
        self._closed = threading.Event()
        self._router = threading.Thread(target=self._route, name="linetrace-pool", daemon=True)
        self._router.start()

    @property
    def pids(self) -> list[int | None]:
        return self._pool.pids

    @property
    def restarts(self) -> int:
        return self._pool.restarts

    def client(self, ring: FrameRing) -> PoolClient:
        """A scanner's way into the pool, for the frames in ``ring``."""
        return PoolClient(self, RingRef.of(ring), IN_FLIGHT_PER_WORKER * self.count)

    def _submit(self, client: PoolClient, task: Task) -> None:
        with self._lock:
            seq = next(self._seqs)
            self._owners[seq] = (client, task.seq)
            self._pool.submit(replace(task, seq=seq, ring=client.ring))

    def _forget(self, client: PoolClient) -> None:
        with self._lock:
            for seq in [seq for seq, (owner, _) in self._owners.items() if owner is client]:
                del self._owners[seq]
            self._pool.forget(client.ring.name)

    def _route(self) -> None:
        """The router thread: each outcome to the client whose frame it is."""
        while not self._closed.is_set():
            with self._lock:
                waitables = self._pool.waitables()
            try:
                wait(waitables, _ROUTER_TICK_S)
            except OSError:
                continue  # a connection closed while waiting: the pool is closing
            if self._closed.is_set():
                return
            with self._lock:
                outcomes = self._pool.collect(0.0)
                owned = [(self._owners.pop(o.seq, None), o) for o in outcomes]
            for owner, outcome in owned:
                if owner is not None:  # None: its camera has stopped
                    client, seq = owner
                    client._deliver(replace(outcome, seq=seq))

    def close(self) -> None:
        self._closed.set()
        self._router.join()
        with self._lock:
            self._pool.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()


class PoolClient:
    """One scanner's share of a :class:`SharedPool` (the scanner's ``Workers``)."""

    def __init__(self, pool: SharedPool, ring: RingRef, limit: int) -> None:
        self._pool = pool
        self.ring = ring
        self._limit = limit
        self._in_flight = 0  # submitted, not yet collected
        self._done: deque[Outcome] = deque()
        self._wake_read, self._wake_write = os.pipe()
        os.set_blocking(self._wake_read, False)
        os.set_blocking(self._wake_write, False)
        self._lock = threading.Lock()  # the router delivers while the scanner may close
        self._closed = False

    @property
    def in_flight(self) -> int:
        return self._in_flight

    @property
    def restarts(self) -> int:
        return self._pool.restarts

    def has_room(self) -> bool:
        return self._in_flight < self._limit

    def submit(self, task: Task) -> None:
        self._in_flight += 1
        self._pool._submit(self, task)

    def waitables(self) -> list[Connection | int]:
        return [self._wake_read]

    def collect(self, timeout: float) -> list[Outcome]:
        if not self._done and timeout > 0:
            wait([self._wake_read], timeout)
        with contextlib.suppress(BlockingIOError):
            while os.read(self._wake_read, 4096):
                pass
        outcomes: list[Outcome] = []
        while self._done:
            outcomes.append(self._done.popleft())
        self._in_flight -= len(outcomes)
        return outcomes

    def _deliver(self, outcome: Outcome) -> None:
        """Called by the router thread."""
        with self._lock:
            if self._closed:
                return
            self._done.append(outcome)
            with contextlib.suppress(OSError):  # a full pipe wakes the scanner anyway
                os.write(self._wake_write, b"\0")

    def close(self) -> None:
        """The camera has stopped: its frames still in flight are dropped."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._done.clear()
            os.close(self._wake_read)
            os.close(self._wake_write)
        self._pool._forget(self)
