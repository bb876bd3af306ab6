"""Central's app under a real uvicorn in this process, for tests that need a real server
(a browser, raw sockets): one way for all of them, waiting on the server, not on a clock."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import uvicorn

from linetrace.ports import free_port
from tests.conditions import wait_until

__all__ = ["serving"]

# Importing and starting is quick; a loaded machine gets generous headroom.
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0


@contextmanager
def serving(app: Any, port: int | None = None) -> Iterator[str]:
    """``app`` served on 127.0.0.1 (``port`` or a free one); yields its base URL."""
    port = port or free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True, name=f"uvicorn-{port}")
    thread.start()
    wait_until(
        lambda: server.started or not thread.is_alive(),
        START_TIMEOUT_S,
        message="uvicorn did not start",
    )
    assert server.started, "uvicorn stopped while starting"
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(STOP_TIMEOUT_S)
