"""The EPCIS profiles over real HTTP: limits, capture jobs, rollback, duplicates, queries."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.central.relay.sandbox.conftest import (
    LD_JSON,
    FakeClock,
    SandboxFactory,
    document,
    event_id,
    events,
    stored,
)


@pytest.mark.parametrize(
    ("profile", "size_header", "max_events", "max_bytes"),
    [
        ("epcis-async", "GS1-EPCIS-Capture-File-Size-Limit", 100, 100_000),
        ("epcis-sync", "GS1-EPCIS-Capture-File-SizeLimit", 499, 20_000),
    ],
)
def test_options_advertises_the_limits_in_each_spelling(
    sandbox: SandboxFactory, profile: str, size_header: str, max_events: int, max_bytes: int
) -> None:
    answer = httpx.options(f"{sandbox(profile).url}/capture")
    assert answer.status_code == 204
    assert answer.headers["GS1-EPCIS-Capture-Limit"] == str(max_events)
    assert answer.headers[size_header] == str(max_bytes)
    other = {"GS1-EPCIS-Capture-File-Size-Limit", "GS1-EPCIS-Capture-File-SizeLimit"} - {
        size_header
    }
    assert other.pop() not in answer.headers


def test_async_capture_is_a_job_to_poll_and_visible_once_finished(
    sandbox: SandboxFactory, template: dict[str, Any], clock: FakeClock
) -> None:
    server = sandbox("epcis-async", job_running_s=2.0, monotonic=clock)
    with httpx.Client(base_url=server.url, headers=LD_JSON) as client:
        answer = client.post("/capture", content=document(template, events(template, 0, 3)))
        assert answer.status_code == 202
        job_url = answer.headers["Location"]
        assert job_url.startswith("/capture/")
        job = client.get(job_url).json()
        assert job["running"] is True
        assert "finishedAt" not in job
        assert stored(client) == []  # accepted for capture is not stored yet
        clock.advance(2.0)
        job = client.get(job_url).json()
        assert set(job) >= {"captureID", "createdAt", "finishedAt", "running", "success",
                            "captureErrorBehaviour", "errors"}  # fmt: skip
        assert (job["running"], job["success"], job["errors"]) == (False, True, [])
        assert job["captureErrorBehaviour"] == "rollback"
        assert [e["eventID"] for e in stored(client)] == [event_id(n) for n in range(3)]
        assert [j["captureID"] for j in client.get("/capture").json()] == [job["captureID"]]


def _bad_uri(event: dict[str, Any]) -> dict[str, Any]:
    event["readPoint"] = {"id": "not a uri"}
    return event


def test_rollback_fails_the_whole_job_and_names_the_bad_event(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    batch = events(template, 0, 3)
    _bad_uri(batch[1])
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        answer = client.post(
            "/capture",
            content=document(template, batch),
            headers={"GS1-Capture-Error-Behaviour": "rollback"},
        )
        job = client.get(answer.headers["Location"]).json()
        assert (job["running"], job["success"]) == (False, False)
        [error] = job["errors"]
        assert error["sequenceInEPCISDoc"] == [2]
        assert error["eventID"] == event_id(1)
        assert "$.readPoint.id" in error["detail"]
        assert "uri" in error["detail"]
        assert stored(client) == []
        stats = client.get("/_sandbox/stats").json()
        assert stats["rejections"] == {"schema": 1}
        assert stats["events_accepted"] == 0


def test_proceed_keeps_the_good_events(sandbox: SandboxFactory, template: dict[str, Any]) -> None:
    batch = events(template, 0, 3)
    _bad_uri(batch[0])
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        answer = client.post(
            "/capture",
            content=document(template, batch),
            headers={"GS1-Capture-Error-Behaviour": "proceed"},
        )
        job = client.get(answer.headers["Location"]).json()
        assert (job["success"], job["captureErrorBehaviour"]) == (False, "proceed")
        assert [e["sequenceInEPCISDoc"] for e in job["errors"]] == [[1]]
        assert [e["eventID"] for e in stored(client)] == [event_id(1), event_id(2)]


def test_a_repeated_event_is_409_alone_and_a_per_event_error_in_a_job(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    first, second = events(template, 0, 2)
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        assert client.post("/events", content=json.dumps(first)).status_code == 201
        again = client.post("/events", content=json.dumps(first))
        assert again.status_code == 409
        assert again.json()["type"] == "epcisException:ResourceAlreadyExistsException"
        answer = client.post("/capture", content=document(template, [second, first]))
        job = client.get(answer.headers["Location"]).json()
        assert job["success"] is False
        [error] = job["errors"]
        assert (error["status"], error["sequenceInEPCISDoc"]) == (409, [2])
        assert [e["eventID"] for e in stored(client)] == [event_id(0)]
        stats = client.get("/_sandbox/stats").json()
        assert (stats["duplicates"], stats["rejections"]) == (2, {"duplicate": 2})


def test_an_error_declaration_replaces_the_stored_event(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    [original] = events(template, 0, 1)
    correction = dict(original, errorDeclaration={"declarationTime": original["eventTime"]})
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        client.post("/capture", content=document(template, [original]))
        answer = client.post("/capture", content=document(template, [correction]))
        assert client.get(answer.headers["Location"]).json()["success"] is True
        [kept] = stored(client)
        assert "errorDeclaration" in kept


def test_sync_capture_answers_201_and_stores_a_resent_event_twice(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    batch = events(template, 0, 2)
    with httpx.Client(base_url=sandbox("epcis-sync").url, headers=LD_JSON) as client:
        for _ in range(2):
            answer = client.post("/capture", content=document(template, batch))
            assert answer.status_code == 201
            job = client.get(answer.headers["Location"]).json()
            assert (job["running"], job["success"]) == (False, True)
        ids = [e["eventID"] for e in stored(client)]
        assert ids == [event_id(0), event_id(1)] * 2
        stats = client.get("/_sandbox/stats").json()
        assert (stats["events_accepted"], stats["duplicates"], stats["stored_events"]) == (4, 2, 4)
        refused = client.post(
            "/capture",
            content=document(template, batch),
            headers={"GS1-Capture-Error-Behaviour": "proceed"},
        )
        assert refused.status_code == 400


def test_sync_refuses_an_invalid_document_naming_each_bad_event(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    batch = events(template, 0, 3)
    _bad_uri(batch[2])
    with httpx.Client(base_url=sandbox("epcis-sync").url, headers=LD_JSON) as client:
        answer = client.post("/capture", content=document(template, batch))
        assert answer.status_code == 400
        assert answer.headers["content-type"] == "application/problem+json"
        [error] = answer.json()["errors"]
        assert error["sequenceInEPCISDoc"] == [3]
        assert "$.readPoint.id" in error["detail"]
        assert stored(client) == []


@pytest.mark.parametrize(
    ("profile", "count", "pad"),
    [
        ("epcis-async", 101, 0),
        ("epcis-async", 1, 100_001),
        ("epcis-sync", 500, 0),
        ("epcis-sync", 1, 20_001),
    ],
)
def test_over_the_limits_is_413(
    sandbox: SandboxFactory, template: dict[str, Any], profile: str, count: int, pad: int
) -> None:
    batch = events(template, 0, count)
    if pad:
        batch[0]["example:note"] = "x" * pad
    with httpx.Client(base_url=sandbox(profile).url, headers=LD_JSON) as client:
        answer = client.post("/capture", content=document(template, batch))
        assert answer.status_code == 413
        assert answer.json()["type"] == "epcisException:CaptureLimitExceededException"
        assert stored(client) == []


def test_events_returns_exactly_what_was_accepted(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        sent = []
        for first in range(0, 250, 50):
            batch = events(template, first, 50)
            sent += batch
            assert client.post("/capture", content=document(template, batch)).status_code == 202
        assert stored(client) == sent
        one = client.get("/events", params={"eventID": f"{event_id(7)},{event_id(3)}"}).json()
        found = one["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
        assert [e["eventID"] for e in found] == [event_id(3), event_id(7)]
        assert one["type"] == "EPCISQueryDocument"
        paged, url = [], "/events?perPage=100"
        while url:
            page = client.get(url)
            paged += page.json()["epcisBody"]["queryResults"]["resultsBody"]["eventList"]
            url = page.links.get("next", {}).get("url", "")
        assert paged == sent


def test_a_document_missing_its_context_is_refused_with_the_problem_named(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    body = json.loads(document(template, events(template, 0, 1)))
    del body["@context"]
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        answer = client.post("/capture", json=body)
        assert answer.status_code == 400
        assert answer.json()["type"] == "epcisException:ValidationException"
        assert "'@context' is a required property" in answer.json()["detail"]
        assert client.post("/capture", content=b"{nope").status_code == 400
        plain = client.post("/capture", content=b"{}", headers={"content-type": "text/plain"})
        assert plain.status_code == 415
        ok = client.post(
            "/capture",
            content=document(template, events(template, 0, 1)),
            headers={"content-type": "application/json; charset=utf-8"},
        )
        assert ok.status_code == 202


def test_without_a_schema_only_the_envelope_is_checked_and_stats_say_so(
    template: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_ENV
    from linetrace.central.relay.sandbox.server import SandboxServer

    monkeypatch.delenv(EPCIS_SCHEMA_ENV, raising=False)
    loose, broken = events(template, 0, 2)
    _bad_uri(loose)
    del broken["eventTime"]
    with (
        SandboxServer("epcis-async") as server,
        httpx.Client(base_url=server.url, headers=LD_JSON) as client,
    ):
        assert client.get("/_sandbox/stats").json()["schema"] is None
        answer = client.post("/capture", content=document(template, [loose, broken]))
        [error] = client.get(answer.headers["Location"]).json()["errors"]
        assert error["sequenceInEPCISDoc"] == [2]
        assert "eventTime" in error["detail"]


def test_schema_from_the_environment(schema_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_ENV
    from linetrace.central.relay.sandbox.server import SandboxServer

    monkeypatch.setenv(EPCIS_SCHEMA_ENV, str(schema_path))
    with SandboxServer("epcis-sync") as server:
        assert server.stats()["schema"] == str(schema_path)


@pytest.mark.parametrize(
    ("auth", "good", "bad"),
    [
        ({"user": "relay", "password": "s3cret"}, ("relay", "s3cret"), ("relay", "wrong")),
        ({"token": "t0k3n"}, "t0k3n", "other"),
    ],
)
def test_auth_when_configured(
    sandbox: SandboxFactory, template: dict[str, Any], auth: dict[str, str], good: Any, bad: Any
) -> None:
    from linetrace.central.relay.sandbox.state import Auth

    def headers(credentials: Any) -> dict[str, str]:
        if isinstance(credentials, str):
            return {**LD_JSON, "Authorization": f"Bearer {credentials}"}
        basic = base64.b64encode(":".join(credentials).encode()).decode()
        return {**LD_JSON, "Authorization": f"Basic {basic}"}

    server = sandbox(auth=Auth(**auth))
    body = document(template, events(template, 0, 1))
    with httpx.Client(base_url=server.url) as client:
        refused = client.post("/capture", content=body, headers=LD_JSON)
        assert refused.status_code == 401
        assert "WWW-Authenticate" in refused.headers
        assert client.post("/capture", content=body, headers=headers(bad)).status_code == 401
        assert client.post("/capture", content=body, headers=headers(good)).status_code == 202
        assert client.get("/events").status_code == 401
        assert client.get("/_sandbox/stats").json()["rejections"] == {"unauthorised": 3}


def test_every_bad_event_is_named_even_past_the_first_twenty(
    sandbox: SandboxFactory, template: dict[str, Any]
) -> None:
    batch = events(template, 0, 60)
    for event in batch[::2]:
        _bad_uri(event)
    with httpx.Client(base_url=sandbox().url, headers=LD_JSON) as client:
        answer = client.post("/capture", content=document(template, batch))
        job = client.get(answer.headers["Location"]).json()
        named = sorted(n for e in job["errors"] for n in e["sequenceInEPCISDoc"])
        assert named == list(range(1, 61, 2))
