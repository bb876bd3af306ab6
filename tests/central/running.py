"""The central command for tests: a config file to run it with, the service as a process."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from tests.central.auth_helpers import login_headers
from tests.central.central_main import main
from tests.central.helpers import STATION
from tests.conditions import wait_until

__all__ = ["START_TIMEOUT_S", "STOP_TIMEOUT_S", "Service", "service", "write_config"]

# Importing FastAPI, SQLAlchemy and paho and migrating takes a second or two; headroom.
START_TIMEOUT_S = 30.0
# A clean stop commits what is queued and disconnects: well under a second locally.
STOP_TIMEOUT_S = 15.0


def write_config(path: Path, database_url: str, **sections: dict[str, object]) -> Path:
    lines = [f'state_dir = "{path.parent / "state"}"', "[database]", f'url = "{database_url}"']
    for name, values in sections.items():
        lines.append(f"[{name}]")
        lines += [f"{key} = {json.dumps(value)}" for key, value in values.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


class Service:
    """``linetrace central run`` in a child process, with its API address."""

    def __init__(self, config: Path, password: str, api_port: int, log: Path) -> None:
        self.api = f"http://127.0.0.1:{api_port}"
        # A bearer token for the protected routes (set by service(); /healthz is open).
        self.headers: dict[str, str] = {}
        env = {**os.environ, "LINETRACE_CENTRAL_MQTT__PASSWORD": password}
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "tests.central.central_main",
                    "central",
                    "run",
                    "--config",
                    str(config),
                ],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self.log = log

    def health(self) -> dict[str, object] | None:
        try:
            response = httpx.get(f"{self.api}/healthz", timeout=1.0)
        except httpx.TransportError:
            return None
        body: dict[str, object] = response.json()
        return body

    def wait_ready(self) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"central exited:\n{self.log.read_text()}")
            health = self.health()
            return health is not None and health["status"] == "ok"

        wait_until(ready, START_TIMEOUT_S)

    def stop(self, sig: signal.Signals = signal.SIGTERM) -> int:
        if self.process.poll() is None:
            self.process.send_signal(sig)
        return self.process.wait(timeout=STOP_TIMEOUT_S)


@contextmanager
def service(tmp_path: Path, broker: LocalBroker, database_url: str) -> Iterator[Service]:
    credentials = broker.service("central")
    api_port = free_port()
    config = write_config(
        tmp_path / "central.toml",
        database_url,
        mqtt={
            "host": broker.host,
            "port": broker.port,
            "username": credentials.username,
            "client_id": "central-service-test",
        },
        api={"port": api_port},
    )
    assert main(["central", "station", "add", STATION, "--config", str(config)]) == 0
    running = Service(config, credentials.password, api_port, tmp_path / "central.log")
    running.headers = login_headers(database_url)
    try:
        running.wait_ready()
        yield running
    finally:
        running.stop(signal.SIGKILL)
