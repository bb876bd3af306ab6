"""Shared fixtures: requirement policy, free ports, the real broker.

Outside CI a missing PostgreSQL or Chromium skips with a reason; with ``CI=true`` the
same absence fails the test, so CI can never pass by skipping what it must run.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable

import pytest

IN_CI = os.environ.get("CI", "").lower() in {"1", "true", "yes"}


def _require(available: bool, reason: str) -> None:
    if available:
        return
    if IN_CI:
        pytest.fail(f"required in CI: {reason}", pytrace=False)
    pytest.skip(reason)


@pytest.fixture(scope="session")
def require() -> Callable[[bool, str], None]:
    """``require(condition, reason)``: skip outside CI, fail in CI, when unmet."""
    return _require


def free_port() -> int:
    """A TCP port that was free on 127.0.0.1 a moment ago."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def port() -> int:
    return free_port()
