"""``/api/dashboard`` figures and ``/api/me/layouts`` on SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from tests.central.auth_helpers import login_headers
from tests.central.dashboard.seeding import alarm, open_batch, seed_events, seed_plant, set_status
from tests.central.helpers import central_settings

S1, S2, OTHER = "hcm1/L1/read-1", "hcm1/L1/pack-1", "hcm1/L2/read-1"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url))) as client:
        yield client


def station(body: dict[str, Any], line: str, name: str) -> dict[str, Any]:
    for site in body["sites"]:
        for found in site["lines"]:
            if found["line"] == line:
                return next(s for s in found["stations"] if s["station"] == name)
    raise AssertionError(f"{line}/{name} not shown")


def test_figures_per_station_and_line(client: TestClient, database_url: str) -> None:
    seed_plant(database_url, S1, S2, OTHER)
    set_status(database_url, S1, "online", timedelta(seconds=2), fps_captured=25, outbox_depth=3)
    set_status(database_url, S2, "online", timedelta(minutes=5))  # went quiet: offline
    set_status(database_url, OTHER, "degraded", timedelta(seconds=1))
    minute = timedelta(seconds=20)
    earlier = timedelta(minutes=30)
    seed_events(
        database_url,
        S1,
        [("read", minute)] * 3
        + [("noread", minute)]
        + [("read", earlier)] * 4
        + [("noread", timedelta(hours=2))],
    )
    batch_id = open_batch(database_url, "hcm1/L1")
    alarm(database_url, S1)

    answer = client.get("/api/dashboard", headers=login_headers(database_url, Role.OPERATOR))
    assert answer.status_code == 200, answer.text
    body = answer.json()
    first = station(body, "L1", "read-1")
    assert first["state"] == "online"
    assert first["fps"] == 25
    assert first["outbox_depth"] == 3
    assert (first["reads_minute"], first["noreads_minute"]) == (3, 1)
    assert (first["reads_hour"], first["noreads_hour"]) == (7, 1)
    assert first["read_rate_minute"] == pytest.approx(0.75)
    assert first["read_rate_hour"] == pytest.approx(7 / 8)
    assert first["open_alarms"] == 1
    assert first["last_event_at"] is not None
    quiet = station(body, "L1", "pack-1")
    assert quiet["state"] == "offline"
    assert quiet["stale"]
    assert station(body, "L2", "read-1")["state"] == "degraded"
    line = body["sites"][0]["lines"][0]
    assert line["batch"]["id"] == batch_id
    assert line["batch"]["lot"] == "L2611"
    assert sum(point["reads"] for point in line["trend"]) == 7
    assert body["sites"][0]["lines"][1]["batch"] is None


def test_a_scoped_operator_sees_only_their_line(client: TestClient, database_url: str) -> None:
    seed_plant(database_url, S1, OTHER)
    headers = login_headers(database_url, Role.OPERATOR, scopes=("hcm1/L2",))
    body = client.get("/api/dashboard", headers=headers).json()
    assert [line["line"] for line in body["sites"][0]["lines"]] == ["L2"]


def test_the_dashboard_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/dashboard").status_code == 401
    assert client.get("/api/me/layouts").status_code == 401


def test_layouts_are_saved_per_person(client: TestClient, database_url: str) -> None:
    mine = login_headers(database_url, Role.OPERATOR)
    theirs = login_headers(database_url, Role.AUDITOR)
    layout = {"show": ["hcm1/L2", "hcm1/L1/read-1"], "density": "compact"}
    saved = client.put("/api/me/layouts/Ca đêm", json=layout, headers=mine)
    assert saved.status_code == 200, saved.text
    again = client.put("/api/me/layouts/Ca đêm", json={**layout, "show": []}, headers=mine)
    assert again.status_code == 200
    listed = client.get("/api/me/layouts", headers=mine).json()
    assert [(x["name"], x["show"], x["density"]) for x in listed] == [("Ca đêm", [], "compact")]
    assert client.get("/api/me/layouts", headers=theirs).json() == []
    assert client.delete("/api/me/layouts/Ca đêm", headers=theirs).status_code == 404
    assert client.delete("/api/me/layouts/Ca đêm", headers=mine).status_code == 204


@pytest.mark.parametrize(
    "body",
    [{"show": ["a/b/c/d"]}, {"density": "tiny"}, {"show": "hcm1"}, {"colour": "red"}],
)
def test_bad_layouts_are_422(client: TestClient, database_url: str, body: Any) -> None:
    headers = login_headers(database_url, Role.OPERATOR)
    answer = client.put("/api/me/layouts/x", json=body, headers=headers)
    assert answer.status_code == 422, answer.text


@pytest.mark.parametrize(
    "query",
    ["station=not-a-station", "site=hcm1&station=hcm2/L1/s1", "line=L 1", "site=" + "x" * 65],
)
def test_bad_stream_filters_are_422(client: TestClient, database_url: str, query: str) -> None:
    headers = login_headers(database_url, Role.OPERATOR)
    answer = client.get(f"/api/stream?{query}", headers=headers)
    assert answer.status_code == 422, answer.text


def test_the_stream_needs_a_login(client: TestClient) -> None:
    assert client.get("/api/stream").status_code == 401
