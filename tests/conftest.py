"""Shared fixtures: requirement policy, free ports, the real broker.

Outside CI a missing PostgreSQL or Chromium skips with a reason; with ``CI=true`` the
same absence fails the test, so CI can never pass by skipping what it must run.
"""

from __future__ import annotations

import os
import re
import socket
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import (
    Credentials,
    MosquittoNotFoundError,
    add_service,
    add_station,
    broker_command,
    find_mosquitto,
    init_broker,
    reload,
)

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


# --- the real broker ---------------------------------------------------------------------

# Mosquitto starts in milliseconds; a slow CI box under load gets ample headroom.
BROKER_START_TIMEOUT_S = 10.0
# A SIGHUP reload is handled on the broker's next loop turn, well under a second.
BROKER_RELOAD_TIMEOUT_S = 5.0
# SIGTERM makes Mosquitto save its persistence file and exit at once.
BROKER_STOP_TIMEOUT_S = 5.0
# What Mosquitto logs once it has started, signal handlers included.
_RUNNING_LINE = re.compile(r"mosquitto version \S+ running$", re.MULTILINE)


@dataclass
class Broker:
    """A running Mosquitto with the project's generated config, on a port of its own."""

    host: str
    port: int
    directory: Path
    log_path: Path
    _process: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    def station(self, station_id: str) -> Credentials:
        """The credentials of ``site/line/station``, active in the broker on return."""
        credentials = add_station(self.directory, StationId.parse(station_id))
        self._reload_until_accepted(credentials)
        return credentials

    def service(self, name: str = "central") -> Credentials:
        """The credentials of a service user (role ``central``), active on return."""
        credentials = add_service(self.directory, name)
        self._reload_until_accepted(credentials)
        return credentials

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        """The broker's process id while it runs."""
        return self._process.pid if self._process is not None and self.running else None

    def start(self) -> None:
        """Start the broker (again) on the same port, and wait until it has fully started.

        Listening is not enough: Mosquitto opens its sockets before it installs its signal
        handlers, and a reload (SIGHUP) in between would end it. Its "running" line comes
        after both.
        """
        if self.running:
            return
        started_before = len(_RUNNING_LINE.findall(self.log()))
        with self.log_path.open("ab") as log:
            process = subprocess.Popen(
                broker_command(self.directory),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
        self._process = process
        deadline = time.monotonic() + BROKER_START_TIMEOUT_S
        while len(_RUNNING_LINE.findall(self.log())) == started_before or not _accepts_tcp(
            self.host, self.port
        ):
            if process.poll() is not None:
                raise RuntimeError(f"mosquitto exited at start:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(f"mosquitto did not start on {self.port}:\n{self.log()}")
            time.sleep(0.02)

    def stop(self) -> None:
        """Stop the broker the way an operator would (SIGTERM: it saves its state)."""
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=BROKER_STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    def log(self) -> str:
        """The broker's output so far (both stdout and stderr)."""
        try:
            return self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def _reload_until_accepted(self, credentials: Credentials) -> None:
        if self._process is None or not self.running:
            return  # a stopped broker reads the new user when it starts
        reload(self._process.pid)
        deadline = time.monotonic() + BROKER_RELOAD_TIMEOUT_S
        while (code := _connack(self.host, self.port, credentials)) != 0:
            if not self.running:
                raise RuntimeError(f"mosquitto exited on reload:\n{self.log()}")
            if time.monotonic() > deadline:
                raise TimeoutError(
                    f"{credentials.username} still refused (CONNACK {code}):\n{self.log()}"
                )
            time.sleep(0.02)


def _accepts_tcp(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.2):
            return True
    except OSError:
        return False


def _connack(host: str, port: int, credentials: Credentials) -> int | None:
    """The CONNACK reason code for these credentials, or None when there was no answer."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion

    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=MQTTProtocolVersion.MQTTv5)
    client.username_pw_set(credentials.username, credentials.password)
    codes: list[int] = []
    client.on_connect = lambda _c, _u, _f, reason, _p: codes.append(reason.value)
    try:
        client.connect(host, port, keepalive=10)
        deadline = time.monotonic() + 1.0
        while not codes and time.monotonic() < deadline:
            client.loop(timeout=0.05)
    except OSError:
        return None
    finally:
        client.disconnect()  # paho closes its sockets when the client is released
    return codes[0] if codes else None


@pytest.fixture
def mqtt_broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """A fresh broker per test; its log is printed at teardown (shown when a test fails)."""
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        _require(False, str(exc))
    directory = tmp_path_factory.mktemp("broker")
    host, port = "127.0.0.1", free_port()
    init_broker(directory, port=port, bind=host)
    broker = Broker(host=host, port=port, directory=directory, log_path=directory / "broker.log")
    try:
        broker.start()
        yield broker
    finally:
        broker.stop()
        print(f"--- mosquitto log ({directory}) ---\n{broker.log()}")


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
