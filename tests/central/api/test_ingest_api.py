"""``/api/stations`` and ``/api/dead-letters`` over a real database, through TestClient."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.ingest.replay import replay_dead_letters
from linetrace.central.ingest.write_batch import Inbound, write_batch
from tests.central.auth_helpers import login_headers
from tests.central.helpers import STATION, central_settings, events_topic, make_event

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


def send(engine: Engine, *seqs: int) -> None:
    write_batch(
        engine, [Inbound(events_topic(), make_event(seq).to_payload(), NOW) for seq in seqs]
    )


def test_register_a_station_and_see_its_progress_and_gaps(
    client: TestClient, engine: Engine
) -> None:
    created = client.post(
        "/api/stations", json={"station": STATION, "gln": "8938500000003", "role": "pack"}
    )
    assert created.status_code == 201, created.text
    assert created.json()["registered_by"] == "api"
    assert created.json()["watermark"] == 0
    send(engine, 1, 2, 5, 6, 9)
    (station,) = client.get("/api/stations").json()
    assert (station["station"], station["gln"], station["role"]) == (
        STATION,
        "8938500000003",
        "pack",
    )
    assert (station["watermark"], station["max_seq_seen"]) == (2, 9)
    assert station["open_gaps"] == [[3, 4], [7, 8]]
    assert station["behind_since"] is not None
    disabled = client.post("/api/stations", json={"station": STATION, "enabled": False})
    assert disabled.json()["enabled"] is False
    assert disabled.json()["gln"] == "8938500000003"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        ({"station": "a/b"}, "must be SITE/LINE/STATION"),
        ({"station": STATION, "gln": "123"}, "is not a GLN: expected 13 digits"),
        ({"station": STATION, "role": "Pack!"}, "short lower-case word"),
        ({"station": STATION, "colour": "red"}, "Extra inputs are not permitted"),
    ],
)
def test_bad_registrations_are_refused(
    client: TestClient, body: dict[str, object], reason: str
) -> None:
    response = client.post("/api/stations", json=body)
    assert response.status_code == 422
    assert reason in response.text


def test_dead_letters_page_newest_first_and_hide_replayed(
    client: TestClient, engine: Engine
) -> None:
    send(engine, 1, 2, 3)  # the station is not registered: three dead letters
    write_batch(engine, [Inbound(events_topic(), b"\xff\xfe", NOW)])
    first = client.get("/api/dead-letters", params={"limit": 2}).json()
    assert len(first["dead_letters"]) == 2
    assert first["next_before_id"] is not None
    binary, third = first["dead_letters"]
    assert binary["payload_text"] is None
    assert base64.b64decode(binary["payload_base64"]) == b"\xff\xfe"
    assert third["reason"].startswith(f"unknown station {STATION}")
    assert '"seq":3' in third["payload_text"]
    rest = client.get(
        "/api/dead-letters", params={"limit": 2, "before_id": first["next_before_id"]}
    ).json()
    assert len(rest["dead_letters"]) == 2
    assert rest["next_before_id"] is None
    only_unknown = client.get("/api/dead-letters", params={"reason_prefix": "unknown station"})
    assert len(only_unknown.json()["dead_letters"]) == 3
    client.post("/api/stations", json={"station": STATION})
    assert replay_dead_letters(engine).stored == 3
    assert len(client.get("/api/dead-letters").json()["dead_letters"]) == 1
    everything = client.get("/api/dead-letters", params={"include_replayed": "true"}).json()
    assert sum(1 for d in everything["dead_letters"] if d["replayed_at"]) == 3
