"""The ``epcis`` adapter on its own: limits from OPTIONS, auth, answers, and a
retraction (ErrorDeclaration, same eventID) delivered after its event."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from typing import Any

import httpx
import pytest
from sqlalchemy.engine import Engine

from linetrace.central.relay import queue
from linetrace.central.relay.sandbox.state import Auth
from linetrace.central.relay.settings import TargetSettings
from linetrace.central.relay.targets.epcis import EpcisTarget, retry_after_s
from tests.central.relay.conftest import Closing, SandboxFactory
from tests.central.relay.relay_helpers import queue_rows, reads, state_counts, store_queued
from tests.central.relay.worker_helpers import drive, target_settings, worker_for


@pytest.mark.parametrize(
    ("profile", "limits"), [("epcis-async", (100, 100_000)), ("epcis-sync", (499, 20_000))]
)
def test_limits_come_from_options_capture(
    sandbox: SandboxFactory, closing: Closing, profile: str, limits: tuple[int, int]
) -> None:
    """epcis-sync spells its size header as FasTnT does (File-SizeLimit)."""
    server = sandbox(profile)
    target = closing(EpcisTarget(target_settings(server.url)))
    assert target.limits() == limits
    capped = closing(EpcisTarget(target_settings(server.url, max_events=40, max_bytes=9000)))
    assert capped.limits() == (40, 9000)


def test_no_advertised_limits_means_100_events_and_20000_bytes(closing: Closing) -> None:
    bare = httpx.MockTransport(lambda request: httpx.Response(204))
    target = closing(EpcisTarget(target_settings("http://repo.example"), transport=bare))
    assert target.limits() == (100, 20_000)


@pytest.mark.parametrize("auth", ["basic", "bearer"])
def test_auth_per_target_with_the_secret_from_the_environment(
    engine: Engine,
    sandbox: SandboxFactory,
    closing: Closing,
    monkeypatch: pytest.MonkeyPatch,
    auth: str,
) -> None:
    server = sandbox("epcis-async", auth=Auth(user="relay", password="s3cret", token="t0ken"))
    store_queued(engine, reads(5), ("repo",))
    refused = closing(worker_for(engine, server))
    refused.step()
    assert state_counts(engine, "repo") == {"queued": 5}  # 401: kept, not dropped
    assert "401" in (queue_rows(engine, "repo")[0]["reason"] or "")
    monkeypatch.setenv("RELAY_SECRET", "s3cret" if auth == "basic" else "t0ken")
    user: dict[str, Any] = {"username": "relay"} if auth == "basic" else {}
    worker = closing(
        worker_for(engine, server, auth=auth, secret_env="RELAY_SECRET", relay={}, **user)
    )
    drive(worker, engine, 5, timeout=30)
    assert state_counts(engine, "repo") == {"accepted": 5}


def test_a_missing_secret_refuses_the_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RELAY_SECRET", raising=False)
    with pytest.raises(ValueError, match="RELAY_SECRET is not set"):
        TargetSettings(
            name="repo", kind="epcis", url="http://x", auth="bearer", secret_env="RELAY_SECRET"
        )
    with pytest.raises(ValueError, match="unknown kind"):
        TargetSettings(name="repo", kind="ftp", url="http://x")


def test_retry_after_in_seconds_or_as_a_date() -> None:
    assert retry_after_s("3") == 3.0
    assert retry_after_s(None) is None
    assert retry_after_s("soon") is None
    later = format_datetime(datetime.now(UTC) + timedelta(seconds=30), usegmt=True)
    assert 25 < (retry_after_s(later) or 0) <= 30


def test_a_retraction_follows_its_event_with_the_same_event_id(
    engine: Engine, sandbox: SandboxFactory, closing: Closing
) -> None:
    server = sandbox("epcis-async")
    scans = reads(3)
    store_queued(engine, scans, ("repo",))
    worker = closing(worker_for(engine, server))
    drive(worker, engine, 3)
    with engine.begin() as connection:
        assert queue.queue_retractions(
            connection, scans[0].event_id, "label printed on the wrong lot", datetime.now(UTC)
        ) == ["repo"]
    drive(worker, engine, 4)
    rows = {(row["event_id"], row["action"]): row for row in queue_rows(engine, "repo")}
    capture, retract = rows[scans[0].event_id, "capture"], rows[scans[0].event_id, "retract"]
    assert retract["state"] == "accepted"
    assert retract["epcis_event_id"] == capture["epcis_event_id"]
    found = httpx.get(f"{server.url}/events", params={"eventID": capture["epcis_event_id"]}).json()
    event = found["epcisBody"]["queryResults"]["resultsBody"]["eventList"][0]
    assert event["errorDeclaration"]["lt:reason"] == "label printed on the wrong lot"
