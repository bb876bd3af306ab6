"""Sandboxes for these tests: real HTTP servers on free ports, GS1's schema beside the repo."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_FILE
from linetrace.central.relay.sandbox.server import SandboxServer

REPO_ROOT = Path(__file__).resolve().parents[4]
SHARED_EPCIS = REPO_ROOT.parent / "shared" / "epcis"
LD_JSON = {"content-type": "application/ld+json"}


class FakeClock:
    """A monotonic clock that moves only when a test says so."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def schema_path(require: Callable[[bool, str], None]) -> Path:
    path = SHARED_EPCIS / "schema" / EPCIS_SCHEMA_FILE
    require(path.is_file(), f"GS1 EPCIS JSON Schema missing: {path}")
    return path


@pytest.fixture
def template(require: Callable[[bool, str], None]) -> dict[str, Any]:
    """An EPCIS 2.0 document from GS1's examples (two ObjectEvents)."""
    path = SHARED_EPCIS / "examples" / "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"
    require(path.is_file(), f"GS1 EPCIS examples missing: {path}")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


SandboxFactory = Callable[..., SandboxServer]


@pytest.fixture
def sandbox(schema_path: Path) -> Iterator[SandboxFactory]:
    """``sandbox(profile, **options)``: a started sandbox with GS1's schema, stopped at the end."""
    started: list[SandboxServer] = []

    def make(profile: str = "epcis-async", **options: Any) -> SandboxServer:
        options.setdefault("schema", schema_path)
        server = SandboxServer(profile, **options).start()
        started.append(server)
        return server

    yield make
    for server in started:
        server.stop()


def event_id(n: int) -> str:
    return f"ni:///sha-256;{n:064x}?ver=CBV2.0"


def events(template: dict[str, Any], first: int, count: int) -> list[dict[str, Any]]:
    """``count`` distinct valid events, eventIDs numbered from ``first``."""
    base = template["epcisBody"]["eventList"][0]
    made = []
    for n in range(first, first + count):
        event = copy.deepcopy(base)
        event["eventID"] = event_id(n)
        made.append(event)
    return made


def document(template: dict[str, Any], event_list: list[dict[str, Any]]) -> bytes:
    body = {k: v for k, v in template.items() if k != "epcisBody"}
    body["epcisBody"] = {"eventList": event_list}
    return json.dumps(body, separators=(",", ":")).encode()


def stored(client: httpx.Client) -> list[dict[str, Any]]:
    answer = client.get("/events")
    assert answer.status_code == 200
    found: list[dict[str, Any]] = answer.json()["epcisBody"]["queryResults"]["resultsBody"][
        "eventList"
    ]
    return found
