"""Relay tests: a real sandbox target (the project's SandboxServer) on a free port, GS1's schema."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_FILE
from linetrace.central.relay.sandbox.server import SandboxServer

REPO_ROOT = Path(__file__).resolve().parents[3]
SHARED_EPCIS = REPO_ROOT.parent / "shared" / "epcis"

SandboxFactory = Callable[..., SandboxServer]
Closing = Callable[[Any], Any]


@pytest.fixture
def schema_path(require: Callable[[bool, str], None]) -> Path:
    path = SHARED_EPCIS / "schema" / EPCIS_SCHEMA_FILE
    require(path.is_file(), f"GS1 EPCIS JSON Schema missing: {path}")
    return path


@pytest.fixture
def sandbox(schema_path: Path) -> Iterator[SandboxFactory]:
    """``sandbox(profile, **options)``: a started sandbox validating against GS1's schema."""
    started: list[SandboxServer] = []

    def make(profile: str = "epcis-async", **options: Any) -> SandboxServer:
        options.setdefault("schema", schema_path)
        server = SandboxServer(profile, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


@pytest.fixture
def closing() -> Iterator[Closing]:
    """``closing(thing)``: ``thing.close()`` at the end of the test (workers, clients)."""
    things: list[Any] = []

    def keep(thing: Any) -> Any:
        things.append(thing)
        return thing

    yield keep
    for thing in reversed(things):
        thing.close()
