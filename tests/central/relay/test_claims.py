"""Claims between workers: two relays on PostgreSQL never send one event twice, and a
relay process killed mid-delivery (SIGKILL) loses and doubles nothing: its claims lapse
and another worker asks the target before sending again."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from linetrace.central.store import open_engine
from tests.central.relay.conftest import Closing, SandboxFactory
from tests.central.relay.relay_helpers import reads, state_counts, store_queued
from tests.central.relay.worker_helpers import accepted_once, drive, worker_for
from tests.conditions import wait_until

# Small documents: many claims, so the two workers really interleave.
SMALL: dict[str, Any] = {"max_events": 10, "concurrency": 2}


@pytest.mark.postgres
def test_two_workers_on_postgres_never_send_one_event_twice(
    postgres_url: str, sandbox: SandboxFactory, closing: Closing
) -> None:
    engine = closing(_Disposing(open_engine(postgres_url)))
    server = sandbox("epcis-sync")  # stores a resent event twice: a double would show
    store_queued(engine.engine, reads(400), ("repo",))
    workers = [
        closing(worker_for(engine.engine, server, worker=name, **SMALL)) for name in ("a", "b")
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=w.run, args=(stop,)) for w in workers]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: state_counts(engine.engine, "repo")["accepted"] == 400, 60)
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    accepted_once(engine.engine, server)
    assert all(w.sent_documents > 0 for w in workers)  # both took a share


def test_a_relay_killed_mid_delivery_loses_and_doubles_nothing(
    engine: Engine, database_url: str, sandbox: SandboxFactory, closing: Closing, tmp_path: Path
) -> None:
    # A slow target: the killed relay's request is still being served when it dies.
    server = sandbox("epcis-sync")
    server.faults(latency_ms=800)
    store_queued(engine, reads(60), ("repo",))
    config = tmp_path / "central.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n[database]\nurl = "{database_url}"\n'
        "[relay]\nlease_s = 3.0\nretry_initial_s = 0.05\nretry_max_s = 0.4\n"
        f'[[relay.targets]]\nname = "repo"\nkind = "epcis"\nurl = "{server.url}"\n'
        "max_events = 10\nconcurrency = 2\n"
    )
    log = (tmp_path / "relay.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.central.central_main", "central", "relay", "run",
         "--config", str(config)],
        stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        wait_until(lambda: state_counts(engine, "repo")["sent"] > 0, 30, "the relay sent nothing")
        os.kill(process.pid, signal.SIGKILL)
        process.wait(10)
    finally:
        if process.poll() is None:
            process.kill()
        log.close()
    in_flight = state_counts(engine, "repo")
    assert in_flight["accepted"] < 60
    assert in_flight["sent"] > 0
    server.faults(latency_ms=0)
    worker = closing(worker_for(engine, server, worker="second", relay={"lease_s": 3.0}))
    drive(worker, engine, 60)
    accepted_once(engine, server)


class _Disposing:
    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def close(self) -> None:
        self.engine.dispose()


def test_central_run_relays_from_a_supervised_child_process(
    sqlite_url: str, sandbox: SandboxFactory, closing: Closing
) -> None:
    from linetrace.central.config import CentralSettings, DatabaseSettings
    from linetrace.central.relay.process import start_relay
    from linetrace.central.relay.settings import RelaySettings
    from tests.central.relay.worker_helpers import FAST, target_settings

    server = sandbox("epcis-async")
    engine = closing(_Disposing(open_engine(sqlite_url))).engine
    store_queued(engine, reads(40), ("repo",))
    settings = CentralSettings(
        database=DatabaseSettings(url=sqlite_url),
        relay=RelaySettings(targets=[target_settings(server.url)], **FAST),
    )
    relay = start_relay(settings)
    assert relay is not None
    try:
        wait_until(lambda: state_counts(engine, "repo")["accepted"] == 40, 60)
        assert relay.pid is not None
    finally:
        relay.stop()
    accepted_once(engine, server)
    off = CentralSettings(relay=RelaySettings(run=False, targets=[target_settings(server.url)]))
    assert start_relay(off) is None
