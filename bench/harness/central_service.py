"""Central as the real service: ``linetrace central run`` in a process of its own.

For the runs that must see central as operators do (the soak): its own interpreter, its
children (the ingest's receiver, the relay when targets are set), migrations at start,
the API, ``/healthz`` and ``/metrics`` over HTTP, and a SIGTERM to stop it.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path
from types import TracebackType
from typing import Self

import httpx
from prometheus_client.parser import text_string_to_metric_families

from harness.broker import BenchBroker
from harness.waiting import wait_for
from linetrace.ports import free_port

__all__ = ["START_S", "STOP_S", "CentralService", "Scrape"]

# Migrating a new database and starting three interpreters on a busy machine.
START_S = 120.0
# A clean stop commits and acknowledges what is queued: seconds at most.
STOP_S = 60.0

Scrape = dict[str, dict[tuple[tuple[str, str], ...], float]]
"""One scrape of ``/metrics``: sample name -> labels -> value."""


class CentralService:
    """``linetrace central run`` on ``database_url`` against ``broker``; a context manager."""

    def __init__(self, folder: Path, broker: BenchBroker, database_url: str) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        api_port = free_port()
        self.api = f"http://127.0.0.1:{api_port}"
        config = folder / "central.toml"
        values: dict[str, dict[str, object]] = {
            "database": {"url": database_url},
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": broker.central.username,
                "client_id": "central-soak",
            },
            "api": {"port": api_port},
            # The soak's stations are new each run: central registers them as they come.
            "ingest": {"auto_register_stations": True},
        }
        lines = [f"state_dir = {json.dumps(str(folder / 'state'))}"]
        for section, keys in values.items():
            lines.append(f"[{section}]")
            lines += [f"{key} = {json.dumps(value)}" for key, value in keys.items()]
        config.write_text("\n".join(lines) + "\n")
        self.log = folder / "central.log"
        env = {**os.environ, "LINETRACE_CENTRAL_MQTT__PASSWORD": broker.central.password}
        command = [sys.executable, "-m", "linetrace", "--log-level", "WARNING", "central", "run"]
        with self.log.open("ab") as out:
            self.process = subprocess.Popen(
                [*command, "--config", str(config)],
                env=env,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        self._http = httpx.Client(timeout=10.0)

    @property
    def pid(self) -> int:
        return self.process.pid

    def wait_ready(self) -> None:
        """Until ``/healthz`` says ok: migrated, connected, subscribed, writing."""

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"central exited:\n{self.log.read_text()[-4000:]}")
            try:
                return bool(self._http.get(f"{self.api}/healthz").json()["status"] == "ok")
            except httpx.HTTPError:
                return False

        wait_for(ready, START_S, "central did not become ready", poll_s=0.2)

    def scrape(self) -> Scrape:
        """One scrape of ``/metrics``."""
        text = self._http.get(f"{self.api}/metrics").text
        found: Scrape = {}
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                labels = tuple(sorted(sample.labels.items()))
                found.setdefault(sample.name, {})[labels] = sample.value
        return found

    def stop(self) -> int:
        """SIGTERM, and the exit status (0 after a clean stop)."""
        self._http.close()
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            return self.process.wait(timeout=STOP_S)
        except subprocess.TimeoutExpired:
            self.process.kill()
            return self.process.wait()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.stop()
