"""Read the next rows of a PostgreSQL cursor while the caller maps the last ones.

A lot export from PostgreSQL spends about as long waiting for the server (scanning,
filtering and sending a million rows) as mapping them in Python. The driver gives up the
GIL while it waits on the socket, so a thread that fetches one or two blocks ahead lets
the server's work and the mapping overlap. Blocks are large (:data:`BLOCK` rows) so that
the thread takes the GIL back rarely. Not for SQLite, whose driver gives the GIL up and
takes it back for every row: there a thread only adds contention.

Flows in: a ``fetch`` function (the cursor's ``fetchmany``). Flows out: its blocks, in
order, until an empty one; its error, raised in the caller's thread.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable, Generator, Sequence
from dataclasses import dataclass
from typing import Any

__all__ = ["BLOCK", "read_ahead"]

BLOCK = 10_000  # rows per fetch: a few megabytes, tens of milliseconds of the server's work
_DEPTH = 2  # blocks fetched ahead of the caller
_POLL_S = 0.1  # how often a blocked put looks whether the caller has gone


@dataclass(frozen=True, slots=True)
class _Failed:
    error: BaseException


def read_ahead(fetch: Callable[[], Sequence[Any]]) -> Generator[Sequence[Any], None, None]:
    """``fetch()``'s blocks until an empty one, fetched in a thread ahead of the caller.

    Closing the iterator early (a client that went away) stops the thread before it
    returns, so the cursor is free for the caller to close.
    """
    blocks: queue.Queue[Sequence[Any] | _Failed] = queue.Queue(maxsize=_DEPTH)
    stop = threading.Event()

    def run() -> None:
        block: Sequence[Any] | _Failed = [1]
        while block and not stop.is_set():
            try:
                block = fetch()
            except BaseException as exc:  # noqa: BLE001  (raised again in the caller)
                block = _Failed(exc)
            while not stop.is_set():
                try:
                    blocks.put(block, timeout=_POLL_S)
                    break
                except queue.Full:
                    continue
            if isinstance(block, _Failed):
                return

    thread = threading.Thread(target=run, name="lot-export-read-ahead", daemon=True)
    thread.start()
    try:
        while True:
            block = blocks.get()
            if isinstance(block, _Failed):
                raise block.error
            if not block:
                return
            yield block
    finally:
        stop.set()
        thread.join()
