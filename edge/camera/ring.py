"""A fixed ring of frame slots in shared memory: capture writes a frame once, every decoder
process reads it in place, and nothing is pickled but the slot number.

The scanner creates the ring (and unlinks it when it stops); the capture process and the
worker processes attach to it by name. Who may write a slot is decided elsewhere: a slot
is the capture's until it has sent it, then the scanner's until it hands it back.
"""

from __future__ import annotations

from multiprocessing import shared_memory
from typing import TYPE_CHECKING, Self

import cv2
import numpy as np

from linetrace.errors import LinetraceError

if TYPE_CHECKING:
    from types import TracebackType

    import numpy.typing as npt

    Image = npt.NDArray[np.uint8]

__all__ = ["FrameRing", "RingError"]


class RingError(LinetraceError, ValueError):
    """A ring that cannot be made, or a frame that does not fit a slot."""


class FrameRing:
    """``slots`` slots of ``slot_shape`` (height, width) grayscale pixels each."""

    def __init__(self, memory: shared_memory.SharedMemory, slots: int, slot_shape: tuple[int, int]):
        self._memory = memory
        self.slots = slots
        self.slot_shape = slot_shape
        self.slot_bytes = slot_shape[0] * slot_shape[1]
        self._owner = False

    @classmethod
    def create(cls, slots: int, slot_shape: tuple[int, int]) -> FrameRing:
        """A new ring; its creator unlinks it on :meth:`close`."""
        height, width = slot_shape
        if slots < 1 or height < 1 or width < 1:
            raise RingError(f"a ring needs slots and a frame size, got {slots} x {slot_shape}")
        memory = shared_memory.SharedMemory(create=True, size=slots * height * width)
        ring = cls(memory, slots, slot_shape)
        ring._owner = True
        return ring

    @classmethod
    def attach(cls, name: str, slots: int, slot_shape: tuple[int, int]) -> FrameRing:
        """The ring ``name`` another process created."""
        return cls(shared_memory.SharedMemory(name=name), slots, slot_shape)

    @property
    def name(self) -> str:
        return self._memory.name

    def view(self, slot: int, shape: tuple[int, int]) -> Image:
        """The frame of ``shape`` in ``slot``, without copying."""
        self._check(slot)
        height, width = shape
        if height * width > self.slot_bytes:
            raise RingError(f"a {width}x{height} frame does not fit a slot of {self.slot_bytes} B")
        offset = slot * self.slot_bytes
        return np.ndarray((height, width), np.uint8, buffer=self._memory.buf, offset=offset)

    def write(self, slot: int, image: Image) -> tuple[int, int]:
        """Copy the grayscale ``image`` into ``slot``; returns the shape stored.

        A frame larger than a slot (a camera that came back at a higher resolution) is
        shrunk to fit, keeping its aspect ratio.
        """
        height, width = image.shape[:2]
        if height * width > self.slot_bytes:
            factor = (self.slot_bytes / (height * width)) ** 0.5
            size = (max(1, int(width * factor)), max(1, int(height * factor)))
            image = np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_AREA), np.uint8)
            height, width = image.shape[:2]
        self.view(slot, (height, width))[:] = image
        return (height, width)

    def _check(self, slot: int) -> None:
        if not 0 <= slot < self.slots:
            raise RingError(f"slot {slot} is not in the ring of {self.slots}")

    def close(self) -> None:
        """Detach; the creator also removes the shared memory."""
        self._memory.close()
        if self._owner:
            self._owner = False
            self._memory.unlink()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
