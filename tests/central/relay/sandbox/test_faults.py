"""Each fault a test can order, over real HTTP, set at start or through ``/_sandbox/faults``."""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest

from linetrace.central.relay.sandbox.faults import FaultPlan, Faults, InvalidFaults
from tests.central.relay.sandbox.conftest import (
    LD_JSON,
    FakeClock,
    SandboxFactory,
    document,
    events,
    stored,
)


def _statuses(client: httpx.Client, count: int) -> list[int]:
    return [client.options("/capture").status_code for _ in range(count)]


def test_the_next_requests_fail_with_the_status_asked(sandbox: SandboxFactory) -> None:
    server = sandbox(faults=FaultPlan(fail_next=2, fail_status=502))
    with httpx.Client(base_url=server.url) as client:
        assert _statuses(client, 3) == [502, 502, 204]
        assert client.post("/_sandbox/faults", json={"fail_next": 1}).status_code == 200
        assert _statuses(client, 2) == [502, 204]  # fail_status stays as it was
        stats = client.get("/_sandbox/stats").json()
        assert stats["faults_injected"] == {"failed": 3}
        assert stats["responses"] == {"502": 3, "204": 2}


def test_429_with_retry_after_for_the_next_requests_and_for_a_window(
    sandbox: SandboxFactory, clock: FakeClock
) -> None:
    server = sandbox(monotonic=clock)
    with httpx.Client(base_url=server.url) as client:
        client.post("/_sandbox/faults", json={"throttle_next": 2, "retry_after_s": 3})
        answers = [client.options("/capture") for _ in range(3)]
        assert [a.status_code for a in answers] == [429, 429, 204]
        assert answers[0].headers["Retry-After"] == "3"
        client.post("/_sandbox/faults", json={"throttle_for_s": 10, "retry_after_s": None})
        clock.advance(4)
        throttled = client.options("/capture")
        assert (throttled.status_code, throttled.headers["Retry-After"]) == (429, "6")
        clock.advance(6)
        assert client.options("/capture").status_code == 204


def test_latency_delays_every_answer(sandbox: SandboxFactory) -> None:
    server = sandbox(faults=FaultPlan(latency_ms=150, jitter_ms=50))
    with httpx.Client(base_url=server.url) as client:
        client.options("/capture")  # connection set up outside the measurement
        started = time.perf_counter()
        assert client.options("/capture").status_code == 204
        assert time.perf_counter() - started >= 0.15
        client.post("/_sandbox/faults", json={"latency_ms": 0, "jitter_ms": 0})
        started = time.perf_counter()
        client.get("/_sandbox/stats")  # control endpoints are never delayed
        assert time.perf_counter() - started < 0.15


def test_downtime_cuts_connections_or_answers_503_then_comes_back(
    sandbox: SandboxFactory, template: dict[str, Any], clock: FakeClock
) -> None:
    server = sandbox(monotonic=clock, faults=FaultPlan(downtime=((5.0, 10.0),)))
    body = document(template, events(template, 0, 2))
    with httpx.Client(base_url=server.url, headers=LD_JSON) as client:
        assert client.options("/capture").status_code == 204
        clock.advance(5)
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/capture", content=body)
        clock.advance(5)
        assert client.post("/capture", content=body).status_code == 202
        client.post("/_sandbox/faults", json={"down_for_s": 30, "down_mode": "503"})
        assert client.options("/capture").status_code == 503
        assert client.get("/_sandbox/stats").json()["down"] is True
        clock.advance(30)
        assert client.options("/capture").status_code == 204
        client.post("/_sandbox/faults", json={"down": True, "down_mode": "drop"})
        with pytest.raises(httpx.RemoteProtocolError):
            client.get("/events")
        client.post("/_sandbox/faults", json={"down": False})
        assert len(stored(client)) == 2  # what was refused while down was never stored


def test_stopped_refuses_connections_and_comes_back_with_its_store(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    server = sandbox()
    body = document(template, events(template, 0, 3))
    assert httpx.post(f"{server.url}/capture", content=body, headers=LD_JSON).status_code == 202
    server.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.options(f"{server.url}/capture")
    server.start()
    with httpx.Client(base_url=server.url) as client:
        assert len(stored(client)) == 3


def test_a_lost_answer_was_processed_all_the_same(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    server = sandbox(faults=FaultPlan(lose_answer_next=1))
    body = document(template, events(template, 0, 2))
    with httpx.Client(base_url=server.url, headers=LD_JSON) as client:
        with pytest.raises(httpx.RemoteProtocolError):
            client.post("/capture", content=body)
        assert len(stored(client)) == 2
        resent = client.post("/capture", content=body)  # the relay's resend: duplicates
        job = client.get(resent.headers["Location"]).json()
        assert [e["status"] for e in job["errors"]] == [409, 409]


def test_413_above_a_body_size(sandbox: SandboxFactory, template: dict[str, Any]) -> None:
    server = sandbox(faults=FaultPlan(max_body_bytes=2000))
    with httpx.Client(base_url=server.url, headers=LD_JSON) as client:
        assert (
            client.post("/capture", content=document(template, events(template, 0, 1))).status_code
            == 202
        )
        big = document(template, events(template, 1, 5))
        assert len(big) > 2000
        assert client.post("/capture", content=big).status_code == 413
        assert client.get("/_sandbox/stats").json()["rejections"] == {"too_large": 1}


def _run_with_error_rate(sandbox: SandboxFactory, seed: int) -> list[int]:
    server = sandbox(faults=FaultPlan(error_rate=0.3, seed=seed))
    with httpx.Client(base_url=server.url) as client:
        return _statuses(client, 60)


def test_the_error_rate_is_reproducible_with_a_seed(sandbox: SandboxFactory) -> None:
    first = _run_with_error_rate(sandbox, seed=7)
    assert first == _run_with_error_rate(sandbox, seed=7)
    assert first != _run_with_error_rate(sandbox, seed=8)
    errors = [s for s in first if s != 204]
    assert 5 <= len(errors) <= 35
    assert set(errors) <= {500, 502, 503, 504}


def test_the_control_endpoint_refuses_a_bad_plan_and_resets(sandbox: SandboxFactory) -> None:
    server = sandbox(faults=FaultPlan(fail_next=5))
    with httpx.Client(base_url=server.url) as client:
        bad = client.post("/_sandbox/faults", json={"eror_rate": 0.5})
        assert bad.status_code == 400
        assert "eror_rate" in bad.json()["error"]
        assert client.post("/_sandbox/faults", json={"error_rate": 2}).status_code == 400
        plan = client.post("/_sandbox/faults", json={"reset": True}).json()
        assert plan == FaultPlan().as_dict()
        assert client.options("/capture").status_code == 204
        client.post("/_sandbox/reset")
        assert client.get("/_sandbox/stats").json()["requests"] == 0


def test_tokens_expire_after_their_lifetime_or_when_told() -> None:
    clock = FakeClock()
    faults = Faults(FaultPlan(token_ttl_s=60), clock, clock())
    issued, epoch = clock(), faults.token_epoch
    assert not faults.token_expired(issued, epoch)
    clock.advance(60)
    assert faults.token_expired(issued, epoch)
    issued = clock()
    faults.update({"expire_tokens": True})
    assert faults.token_expired(issued, epoch)
    assert not faults.token_expired(issued, faults.token_epoch)


def test_a_plan_names_its_bad_keys() -> None:
    with pytest.raises(InvalidFaults, match="downtime window"):
        FaultPlan.from_mapping({"downtime": [[5, 1]]})
    with pytest.raises(InvalidFaults, match="down_mode"):
        FaultPlan.from_mapping({"down_mode": "sulk"})
