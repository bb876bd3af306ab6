"""The batches the receiver hands over, waiting for the writer thread to commit them.

The receiver already waited up to ``flush_interval`` for each batch to fill; batches that
queued up while the writer committed the last one share its next transaction, as long as
they fit ``batch_size`` together.
"""

from __future__ import annotations

import queue

from linetrace.central.ingest.receiver import Received

__all__ = ["Handover"]


class Handover:
    """Batches from the receiver's thread to the writer's, merged while they fit one batch."""

    def __init__(self, batch_size: int) -> None:
        self._batch_size = batch_size
        # Batches as the receiver sent them. Unbounded: QoS 1 messages are bounded by the
        # broker (see linetrace.central.ingest.service), QoS 0 ones by the receiver's check.
        self._queue: queue.Queue[list[Received]] = queue.Queue()
        # A batch taken off the queue that did not fit into the last transaction.
        self._held: list[Received] | None = None

    def put(self, items: list[Received]) -> None:
        """Hand over one batch (the receiver's thread)."""
        self._queue.put(items)

    def next_batch(self, timeout: float) -> list[Received]:
        """The next batch, with those queued behind it while they fit; [] after ``timeout`` s.

        Called by the writer thread alone.
        """
        if self._held is not None:
            batch, self._held = self._held, None
        else:
            try:
                batch = self._queue.get(timeout=timeout)
            except queue.Empty:
                return []
        while len(batch) < self._batch_size:
            try:
                more = self._queue.get_nowait()
            except queue.Empty:
                break
            if len(batch) + len(more) > self._batch_size:
                self._held = more
                break
            batch = batch + more
        return batch
