"""``GET /api/events/{id}/image`` and ``.../image/facts``, and ``has_image`` in the listing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers
from tests.central.helpers import STATION, central_settings, events_topic, make_event, register
from tests.central.images.helpers import jpeg, noread

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
OTHER = "hcm2/L9/pack-9"


def store(database_url: str, *payloads: tuple[str, bytes]) -> None:
    engine = open_engine(database_url)
    try:
        write_batch(engine, [Inbound(events_topic(s), p, NOW) for s, p in payloads])
    finally:
        engine.dispose()


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    register(database_url, STATION, OTHER)
    with TestClient(create_app(central_settings(database_url))) as client:
        client.headers.update(login_headers(database_url, Role.OPERATOR))
        yield client


def test_the_picture_is_served_as_a_private_jpeg(client: TestClient, database_url: str) -> None:
    picture = jpeg()
    event = noread(1, picture)
    store(database_url, (STATION, event.to_payload()))
    answer = client.get(f"/api/events/{event.event_id}/image")
    assert answer.status_code == 200
    assert answer.content == picture
    assert answer.headers["content-type"] == "image/jpeg"
    assert answer.headers["cache-control"].startswith("private")
    assert answer.headers["x-content-type-options"] == "nosniff"
    facts = client.get(f"/api/events/{event.event_id}/image/facts").json()
    assert facts["station"] == "pack-1"
    assert facts["sha256"] == hashlib.sha256(picture).hexdigest()
    assert facts["size"] == len(picture)
    assert facts["observed_at"].endswith("+07:00")
    assert facts["reason"] is None


def test_no_picture_is_a_404_and_a_bad_id_a_422(client: TestClient, database_url: str) -> None:
    read = make_event(1)
    store(database_url, (STATION, read.to_payload()))
    assert client.get(f"/api/events/{read.event_id}/image").status_code == 404
    assert client.get("/api/events/not-a-uuid/image").status_code == 422
    body = client.get(f"/api/events/{read.event_id}/image/facts").json()
    assert "no picture" in body["detail"]


def test_the_listing_says_which_events_have_a_picture(
    client: TestClient, database_url: str
) -> None:
    pictured, unpictured, read = noread(1), noread(2, b"not a jpeg"), make_event(3)
    store(database_url, *((STATION, e.to_payload()) for e in (pictured, unpictured, read)))
    listed = {e["event_id"]: e["has_image"] for e in client.get("/api/events").json()["events"]}
    assert listed == {
        str(pictured.event_id): True,
        str(unpictured.event_id): False,
        str(read.event_id): False,
    }


def test_a_picture_outside_the_scope_does_not_exist(client: TestClient, database_url: str) -> None:
    event = noread(1, station=OTHER)
    store(database_url, (OTHER, event.to_payload()))
    scoped = login_headers(database_url, Role.OPERATOR, scopes=("hcm1",))
    assert client.get(f"/api/events/{event.event_id}/image", headers=scoped).status_code == 404
    assert client.get(f"/api/events/{event.event_id}/image").status_code == 200


def test_a_picture_needs_a_login(database_url: str) -> None:
    with TestClient(create_app(central_settings(database_url))) as anonymous:
        answer = anonymous.get("/api/events/0193a3c5-7a80-7cc4-9d5e-0a1b2c3d4e5f/image")
    assert answer.status_code == 401
