"""Which frame ring a decode worker reads: its scanner's own, or the one each task names.

A pool that serves several cameras (:mod:`~linetrace.edge.scanner.shared_pool`) sends
tasks from several rings to the same workers; a worker attaches to a ring the first time
a task names it and detaches when told the camera has stopped (:class:`Forget`), so a
ring's shared memory is freed once its camera is gone.
"""

from __future__ import annotations

from dataclasses import dataclass

from linetrace.edge.camera.ring import FrameRing, RingError

__all__ = ["Forget", "RingRef", "WorkerRings"]


@dataclass(frozen=True, slots=True)
class RingRef:
    """A frame ring by name, for a worker to attach to."""

    name: str
    slots: int
    slot_shape: tuple[int, int]

    @classmethod
    def of(cls, ring: FrameRing) -> RingRef:
        return cls(ring.name, ring.slots, ring.slot_shape)


@dataclass(frozen=True, slots=True)
class Forget:
    """Detach from the ring ``name``: its camera has stopped."""

    name: str


class WorkerRings:
    """The rings a worker reads: its own, and those tasks name (attached on first use)."""

    def __init__(self, own: RingRef | None) -> None:
        self._own = own
        self._attached: dict[str, FrameRing] = {}

    def get(self, ref: RingRef | None) -> FrameRing:
        ref = ref or self._own
        if ref is None:
            raise RingError("a task names no ring and the worker has none of its own")
        ring = self._attached.get(ref.name)
        if ring is None:
            try:
                ring = FrameRing.attach(ref.name, ref.slots, ref.slot_shape)
            except OSError as exc:  # the camera stopped and its ring is gone
                raise RingError(f"ring {ref.name} is gone: {exc}") from None
            self._attached[ref.name] = ring
        return ring

    def forget(self, name: str) -> None:
        ring = self._attached.pop(name, None)
        if ring is not None:
            ring.close()

    def close(self) -> None:
        for name in list(self._attached):
            self.forget(name)
