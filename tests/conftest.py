"""Shared fixtures: requirement policy, free ports, the real broker (a :class:`LocalBroker`).

Outside CI a missing PostgreSQL or Chromium skips with a reason; with ``CI=true`` the
same absence fails the test, so CI can never pass by skipping what it must run.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linetrace.broker.mosquitto import MosquittoNotFoundError, find_mosquitto
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port

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


@pytest.fixture
def port() -> int:
    return free_port()


@pytest.fixture
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalBroker]:
    """A fresh broker per test; its log is printed at teardown (shown when a test fails)."""
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        _require(False, str(exc))
    broker = LocalBroker.create(tmp_path_factory.mktemp("broker"))
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        print(f"--- mosquitto log ({broker.directory}) ---\n{broker.log()}")


CHROMIUM = os.environ.get("LINETRACE_CHROMIUM", "/usr/bin/chromium")
# Flags for a headless Chromium on a machine with no display and no way out: no sandbox
# (tests may run as root), no GPU, and none of the background calls home that a closed
# network refuses.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@pytest.fixture(scope="session")
def chromium() -> Iterator[Any]:
    """Debian's Chromium driven by Playwright (never a browser Playwright downloads)."""
    _require(
        Path(CHROMIUM).exists(),
        f"{CHROMIUM} is missing (install Debian's chromium package: apt-get install chromium)",
    )
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield browser
        finally:
            browser.close()
