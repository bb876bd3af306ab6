"""Sandboxes for these tests: real HTTP servers on free ports, GS1's schema beside the repo."""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from tests.central.relay.conftest import SHARED_EPCIS, SandboxFactory

# The schema_path and sandbox fixtures come from tests/central/relay/conftest.py.
__all__ = ["LD_JSON", "SHARED_EPCIS", "FakeClock", "SandboxFactory"]

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
def template(require: Callable[[bool, str], None]) -> dict[str, Any]:
    """An EPCIS 2.0 document from GS1's examples (two ObjectEvents)."""
    path = SHARED_EPCIS / "examples" / "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"
    require(path.is_file(), f"GS1 EPCIS examples missing: {path}")
    document: dict[str, Any] = json.loads(path.read_text())
    return document


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


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
