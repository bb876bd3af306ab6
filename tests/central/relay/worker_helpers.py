"""Driving a relay worker against a sandbox in the tests, and reading both sides."""

from __future__ import annotations

from collections import Counter
from typing import Any

import httpx
from sqlalchemy.engine import Engine

from linetrace.central.relay.sandbox.server import SandboxServer
from linetrace.central.relay.settings import RelaySettings, TargetSettings
from linetrace.central.relay.targets.epcis import EpcisTarget
from linetrace.central.relay.worker import Mapper, TargetWorker
from tests.central.relay.relay_helpers import ledger_ids, queue_rows, state_counts
from tests.conditions import wait_until

__all__ = ["FAST", "accepted_once", "drive", "sandbox_ids", "target_settings", "worker_for"]

# Retries and breaker pauses short enough for tests, the same shape as in production.
FAST: dict[str, Any] = {
    "retry_initial_s": 0.05,
    "retry_max_s": 0.4,
    "breaker_open_s": 0.05,
    "breaker_failures": 3,
    "poll_interval_ms": 20,
    "lease_s": 30.0,
}


def target_settings(url: str, name: str = "repo", **extra: Any) -> TargetSettings:
    return TargetSettings(name=name, kind="epcis", url=url, timeout_s=10, **extra)


def worker_for(
    engine: Engine,
    server: SandboxServer,
    *,
    worker: str = "w1",
    mapper: Mapper | None = None,
    relay: dict[str, Any] | None = None,
    **target: Any,
) -> TargetWorker:
    settings = target_settings(server.url, **target)
    relay_settings = RelaySettings(targets=[settings], **{**FAST, **(relay or {})})
    return TargetWorker(engine, relay_settings, settings, EpcisTarget(settings), worker, mapper)


def drive(worker: TargetWorker, engine: Engine, done: int, timeout: float = 30.0) -> None:
    """Run rounds until ``done`` rows of the worker's target are accepted or rejected."""

    def finished() -> bool:
        worker.step()
        counts = state_counts(engine, worker.name)
        return counts["accepted"] + counts["rejected"] >= done

    wait_until(finished, timeout, f"the relay did not finish: {state_counts(engine, worker.name)}")


def sandbox_ids(server: SandboxServer) -> list[str]:
    """The eventIDs the sandbox stored, one per capture (a double capture shows twice)."""
    answer = httpx.get(f"{server.url}/events", timeout=10)
    answer.raise_for_status()
    found = answer.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
    return [event["eventID"] for event in found if "errorDeclaration" not in event]


def accepted_once(engine: Engine, server: SandboxServer, target: str = "repo") -> None:
    """Every queued event accepted, and stored exactly once at the sandbox."""
    rows = queue_rows(engine, target)
    assert Counter(row["state"] for row in rows) == {"accepted": len(rows)}
    stored = Counter(sandbox_ids(server))
    assert stored.most_common(1)[0][1] == 1 if stored else True, "captured twice"
    assert set(stored) == {row["epcis_event_id"] for row in rows}
    assert sorted(ledger_ids(engine, target)) == sorted(stored)
