"""Capture: one process per camera, frames into a bounded shared-memory ring, never blocked.

The capture process owns the source. It stamps each frame at capture (the source does:
wall clock in the station's offset and monotonic time, or media time for a file read as
fast as possible), turns it to grayscale (all decoding needs; a third of the bytes to
move), writes it into a free slot of the :class:`~linetrace.edge.camera.ring.FrameRing` and
sends the slot's number to the scanner, which hands the slot back once the frame is
decoded and tracked.

Two ways to run, chosen by how the source is played:

* live (a camera, a stream, a file played in real time): a camera does not wait. When no
  slot is free, because decoding has fallen behind, the frame is dropped and counted;
  capture itself never blocks on the decoders.
* as fast as possible (a file scanned offline): nothing is dropped; capture waits for a
  free slot (back-pressure), so an offline scan sees every frame, as the line would have.

A frame that has not changed since the last one sent (a stopped line) is sent as *still*,
without a slot: the scanner carries the last reading over instead of decoding it again.

The watchdog: a source that fails (raises) or stalls (a live source's read times out,
ending its frames) is closed and reopened with exponential backoff, and each failure and
recovery is reported to the scanner as a :class:`Notice` and counted. A failure raises
the :class:`~linetrace.edge.camera.alarm.CameraAlarm` until frames flow again. A file resumes at
the frame after the last one delivered. A capture process that dies or hangs (no progress
for ``stall_s``) is killed and started again by the scanner (:meth:`Capture.check`).

This module is the scanner's side; the process itself is
:mod:`~linetrace.edge.camera.capture_process`, and what crosses between them is in
:mod:`~linetrace.edge.camera.capture_messages`.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import TYPE_CHECKING

from linetrace.edge.camera.alarm import CameraAlarm
from linetrace.edge.camera.capture_messages import (
    CAPTURED,
    COUNTERS,
    DROPPED,
    FAILURES,
    HEARTBEAT,
    RECONNECTS,
    SKIPPED,
    STILL,
    TICK_S,
    Captured,
    Ended,
    Notice,
    Opened,
    RingReady,
    SourceOpener,
)
from linetrace.edge.camera.capture_process import capture_main
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.ring import FrameRing
from linetrace.edge.camera.settings import CaptureConfig

if TYPE_CHECKING:
    from multiprocessing.process import BaseProcess
    from multiprocessing.sharedctypes import SynchronizedArray

__all__ = ["Capture", "CaptureCounts"]

logger = logging.getLogger(__name__)

_SPAWN = multiprocessing.get_context("spawn")


@dataclass(slots=True)
class CaptureCounts:
    """What capture has done so far."""

    captured: int = 0
    dropped: int = 0
    still: int = 0
    skipped: int = 0
    reconnects: int = 0
    failures: int = 0
    restarts: int = 0
    alarm: bool = False  # the source failed and no frame has come since


class Capture:
    """The capture process as the scanner sees it: start, receive frames, hand slots back.

    Not thread-safe: one thread (the scanner's loop) drives it.
    """

    def __init__(
        self,
        opener: SourceOpener,
        config: CaptureConfig,
        *,
        skip_still: bool,
        on_notice: Callable[[Notice], None] | None = None,
    ) -> None:
        self._opener = opener
        self._config = config
        self._skip_still = skip_still
        self._on_notice = on_notice
        self._counters: SynchronizedArray[float] = _SPAWN.Array("d", COUNTERS, lock=False)
        self._process: BaseProcess | None = None
        self._conn: Connection | None = None
        self.ring: FrameRing | None = None
        self.description = ""
        self.fps: float | None = None
        self.live = False
        self.ended: Ended | None = None
        self._held: set[int] = set()  # slots the scanner holds (sent to it, not returned)
        self._broken = False  # the pipe to the process is closed: it died
        self._last_index = -1
        self._restarts = 0
        self.alarm = CameraAlarm()

    @property
    def connection(self) -> Connection:
        if self._conn is None:
            raise RuntimeError("capture not started")
        return self._conn

    @property
    def pid(self) -> int | None:
        """The capture process's id, while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        """Whether the process may still send frames."""
        return self._conn is not None and self.ended is None and not self._broken

    def request_stop(self) -> None:
        """Ask the process to stop capturing; it answers with :class:`Ended`."""
        if self.running:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                self.connection.send(None)

    def start(self) -> None:
        """Start the process and open the source; :class:`SourceError` if it cannot."""
        opened = self._spawn(first_index=0)
        self.description, self.fps, self.live = opened.description, opened.fps, opened.live
        self.alarm.description = opened.description
        self.ring = FrameRing.create(self._config.ring_slots, opened.shape)
        free = tuple(range(self.ring.slots))
        self.connection.send(RingReady(self.ring.name, self.ring.slots, opened.shape, free))
        logger.info("capturing %s (%dx%d)", self.description, opened.shape[1], opened.shape[0])

    def _spawn(self, first_index: int) -> Opened:
        parent, child = _SPAWN.Pipe(duplex=True)
        process = _SPAWN.Process(
            target=capture_main,
            args=(
                self._opener,
                self._config,
                self._skip_still,
                child,
                self._counters,
                first_index,
                logging.getLogger().getEffectiveLevel(),
            ),
            name="linetrace-capture",
            daemon=True,
        )
        process.start()
        child.close()
        self._process, self._conn, self._broken = process, parent, False
        self._counters[HEARTBEAT] = time.monotonic()
        first = self._first_message(parent, process)
        if isinstance(first, Ended):
            self._join()
            raise SourceError(first.reason)
        return first

    def _first_message(self, conn: Connection, process: BaseProcess) -> Opened | Ended:
        while not conn.poll(TICK_S):
            if not process.is_alive():
                return Ended("the capture process died while opening the source", failed=True)
        try:
            message = conn.recv()
        except EOFError:
            return Ended("the capture process died while opening the source", failed=True)
        if isinstance(message, (Opened, Ended)):
            return message
        return Ended(f"unexpected first message from capture: {message!r}", failed=True)

    def receive(self) -> list[Captured]:
        """The frames (and still frames) sent since the last call; handles notices."""
        frames: list[Captured] = []
        if not self.running:
            return frames
        conn = self.connection
        try:
            while conn.poll():
                message = conn.recv()
                if isinstance(message, Captured):
                    self.alarm.delivered()
                    self._last_index = message.index
                    if message.slot is not None:
                        self._held.add(message.slot)
                    frames.append(message)
                elif isinstance(message, Notice):
                    self._notify(message)
                elif isinstance(message, Ended):
                    self.ended = message
        except (EOFError, ConnectionResetError):
            self._broken = True  # the process died; check() restarts it
        return frames

    def release(self, slot: int) -> None:
        """Hand ``slot`` back to the capture process."""
        self._held.discard(slot)
        with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
            self.connection.send(slot)

    def check(self) -> None:
        """The watchdog's outer half: restart a capture process that died or hangs."""
        if self.ended is not None or self._process is None:
            return
        alive = self._process.is_alive()
        silent = time.monotonic() - self._counters[HEARTBEAT]
        if alive and silent <= self._config.stall_s:
            return
        why = "died" if not alive else f"made no progress for {silent:.0f} s"
        self._notify(Notice("restarted", f"capture of {self.description} {why}", time.monotonic()))
        self._restart()

    def _restart(self) -> None:
        self._kill()
        self._restarts += 1
        try:
            self._spawn(first_index=self._last_index + 1)
        except SourceError as exc:
            self._notify(Notice("failed", str(exc), time.monotonic()))
            self.ended = Ended(str(exc), failed=True)
            return
        ring = self.ring
        if ring is None:
            raise RuntimeError("capture restarted before its ring was made")
        free = tuple(slot for slot in range(ring.slots) if slot not in self._held)
        self.connection.send(RingReady(ring.name, ring.slots, ring.slot_shape, free))

    def counts(self) -> CaptureCounts:
        c = self._counters
        return CaptureCounts(
            captured=int(c[CAPTURED]),
            dropped=int(c[DROPPED]),
            still=int(c[STILL]),
            skipped=int(c[SKIPPED]),
            reconnects=int(c[RECONNECTS]),
            failures=int(c[FAILURES]),
            restarts=self._restarts,
            alarm=self.alarm.raised,
        )

    def _notify(self, notice: Notice) -> None:
        log = logger.info if notice.kind == "reconnected" else logger.warning
        log("capture %s: %s", notice.kind, notice.message)
        if notice.kind != "reconnected":
            self.alarm.failed(notice.message)
        if self._on_notice is not None:
            self._on_notice(notice)

    def stop(self) -> None:
        """Stop the process and release the ring; safe to call more than once."""
        if self._conn is not None:
            with contextlib.suppress(BrokenPipeError, ConnectionResetError, OSError):
                self._conn.send(None)
        self._join()
        if self.ring is not None:
            self.ring.close()
            self.ring = None

    def _join(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.join(timeout=2.0)
            if process.is_alive():
                process.kill()
                process.join()
            process.close()
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def _kill(self) -> None:
        if self._process is not None and self._process.is_alive():
            self._process.kill()
        self._join()
