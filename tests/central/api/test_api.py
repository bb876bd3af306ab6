"""The HTTP API over a real database file (and PostgreSQL), through FastAPI's TestClient."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.store import event_row, head_revision, insert_events, open_engine
from linetrace.ports import free_port
from tests.central.auth_helpers import login_headers
from tests.central.helpers import HCM, central_settings, make_event

RECEIVED = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


def seed(database_url: str, *events: Any) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            rows = [event_row(e, json.loads(e.to_payload()), RECEIVED) for e in events]
            insert_events(connection, rows)
    finally:
        engine.dispose()


def test_healthz_reports_the_database_and_no_ingest(client: TestClient) -> None:
    response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok"
    assert body["database"]["ok"] is True
    assert body["database"]["revision"] == head_revision()
    assert body["ingest"] is None


def test_healthz_is_503_when_the_database_is_down(tmp_path: Path) -> None:
    down = f"postgresql+psycopg://postgres:secret@127.0.0.1:{free_port()}/gone"
    with TestClient(create_app(central_settings(down))) as client:
        response = client.get("/healthz")
    assert response.status_code == 503
    body = response.json()
    assert body["status"] == "failing"
    assert body["database"]["ok"] is False
    assert body["database"]["error"]
    assert "secret" not in response.text


def test_events_come_back_newest_first_with_the_station_offset(
    client: TestClient, database_url: str
) -> None:
    older = make_event(1, observed_at=datetime(2025, 3, 1, 8, 0, 0, 250000, tzinfo=HCM))
    newer = make_event(2, observed_at=datetime(2025, 3, 1, 8, 0, 1, tzinfo=HCM), lane="left")
    seed(database_url, older, newer)
    body = client.get("/api/events").json()
    assert [e["seq"] for e in body["events"]] == [2, 1]
    assert body["events"][1]["observed_at"] == "2025-03-01T08:00:00.250000+07:00"
    assert body["events"][0]["received_at"] == "2025-03-01T01:30:00Z"
    assert body["events"][0]["lane"] == "left"
    assert body["events"][0]["gs1"] == newer.gs1
    assert body["events"][0]["event_id"] == str(newer.event_id)
    assert body["next_cursor"] is None


def test_filters_and_pages(client: TestClient, database_url: str) -> None:
    base = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
    seed(
        database_url,
        *(make_event(n, observed_at=base + timedelta(seconds=n)) for n in range(1, 8)),
        make_event(8, station="hcm1/L2/pack-1", observed_at=base + timedelta(seconds=8)),
    )
    pages, params = [], {"station": "hcm1/L1/pack-1", "limit": "3"}
    while True:
        body = client.get("/api/events", params=params).json()
        pages.append([e["seq"] for e in body["events"]])
        if body["next_cursor"] is None:
            break
        params["cursor"] = body["next_cursor"]
    assert pages == [[7, 6, 5], [4, 3, 2], [1]]
    window = {"since": "2025-03-01T01:00:02Z", "until": "2025-03-01T08:00:04+07:00"}
    assert [e["seq"] for e in client.get("/api/events", params=window).json()["events"]] == [3, 2]
    by_serial = client.get("/api/events", params={"code": "000005"}).json()["events"]
    assert [e["seq"] for e in by_serial] == [5]
    assert client.get("/api/events", params={"kind": "noread"}).json()["events"] == []


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"station": "hcm1/L1"}, 422, "must be SITE/LINE/STATION"),
        ({"station": "hcm1/L1/#"}, 422, "is not a valid id part"),
        ({"since": "2025-03-01T08:00:00"}, 422, "timezone"),
        ({"until": "yesterday"}, 422, "datetime"),
        ({"since": "2025-03-01T08:00:00Z", "until": "2025-03-01T07:00:00Z"}, 422, "before until"),
        ({"limit": "0"}, 422, "greater than or equal to 1"),
        ({"limit": "1001"}, 422, "less than or equal to 1000"),
        ({"kind": "scan"}, 422, "'read', 'noread' or 'pack'"),
        ({"cursor": "bm9wZQ"}, 400, "not one this service handed out"),
    ],
)
def test_bad_requests_say_what_is_wrong(
    client: TestClient, params: dict[str, str], status: int, says: str
) -> None:
    response = client.get("/api/events", params=params)
    assert response.status_code == status
    assert says in response.text


def test_healthz_is_degraded_while_the_ingest_has_no_broker(sqlite_url: str) -> None:
    settings = central_settings(sqlite_url, port=free_port())  # nothing listens there
    with TestClient(create_app(settings, run_ingest=True)) as client:
        response = client.get("/healthz")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "degraded"
    assert body["ingest"]["connected"] is False
    assert body["ingest"]["received"] == 0
