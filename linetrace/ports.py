"""A TCP port for a local server: the broker of a test, the demo's stack, a sandbox target.

Asking the kernel for port 0 and reading back what it chose gives a port that was free a
moment ago; the caller binds it at once, so a clash with another process is rare and shows
up as a clear "address in use" at start, never as two servers on one port.
"""

from __future__ import annotations

import socket

__all__ = ["free_port"]


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port that was free on ``host`` a moment ago."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
