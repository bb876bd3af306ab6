"""A principal scoped to a line sees only that line's records and changes only it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, central_settings, register
from tests.central.trace_helpers import add_product

MINE, THEIRS = "hcm1/L1", "hn2/L1"


@pytest.fixture
def client(database_url: str, engine: Engine) -> Iterator[TestClient]:
    register(database_url, f"{MINE}/pack-1", f"{THEIRS}/pack-1")
    add_product(engine)
    with TestClient(create_app(central_settings(database_url))) as client:
        yield client


def test_a_line_scope_filters_lists_and_hides_other_lines(
    client: TestClient, database_url: str
) -> None:
    admin = login_headers(database_url, Role.ADMIN)
    scoped = login_headers(database_url, Role.OPERATOR, (MINE,))
    stations = client.get("/api/stations", headers=scoped).json()
    assert [s["station"] for s in stations] == [f"{MINE}/pack-1"]
    assert len(client.get("/api/stations", headers=admin).json()) == 2

    theirs = client.post(
        "/api/batches", json={"line": THEIRS, "gtin": GTIN, "lot": "L1"}, headers=admin
    )
    assert theirs.status_code == 201
    other_id = theirs.json()["id"]
    refused = client.post(
        "/api/batches", json={"line": THEIRS, "gtin": GTIN, "lot": "L2"}, headers=scoped
    )
    assert refused.status_code == 403
    mine = client.post(
        "/api/batches", json={"line": MINE, "gtin": GTIN, "lot": "L3"}, headers=scoped
    )
    assert mine.status_code == 201

    listed = client.get("/api/batches", headers=scoped).json()
    assert [b["line"] for b in listed] == [MINE]
    assert client.get(f"/api/batches/{other_id}", headers=scoped).status_code == 404
    assert client.get(f"/api/batches/{other_id}", headers=admin).status_code == 200
    closing = client.post(f"/api/batches/{other_id}/close", headers=scoped)
    assert closing.status_code == 403
    assert client.get(f"/api/batches/{other_id}", headers=admin).json()["state"] == "open"


def test_dead_letters_of_other_lines_and_plant_wide_ones_stay_hidden(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    from datetime import UTC, datetime

    from linetrace.central.store.tables import dead_letters

    now = datetime.now(UTC)
    topics = [
        f"linetrace/v1/{MINE}/pack-1/events",
        f"linetrace/v1/{THEIRS}/pack-1/events",
        "linetrace/v1/hcm1/L10/pack-1/events",  # a line whose name starts like mine
        "elsewhere/entirely",
    ]
    with engine.begin() as connection:
        connection.execute(
            dead_letters.insert(),
            [
                {
                    "received_at": now,
                    "topic": t,
                    "reason": "bad",
                    "payload": b"{",
                    "payload_size": 1,
                }
                for t in topics
            ],
        )

    def seen(headers: dict[str, str]) -> set[str]:
        page = client.get("/api/dead-letters", headers=headers)
        assert page.status_code == 200, page.text
        return {letter["topic"] for letter in page.json()["dead_letters"]}

    assert seen(login_headers(database_url, Role.OPERATOR, (MINE,))) == {topics[0]}
    assert seen(login_headers(database_url, Role.OPERATOR, ("hcm1",))) == {topics[0], topics[2]}
    assert seen(login_headers(database_url, Role.OPERATOR)) == set(topics)


def test_a_scoped_readers_pages_are_full_not_cut_after_the_limit(
    client: TestClient, engine: Engine, database_url: str
) -> None:
    from linetrace.central.derive.alarms import raise_alarm

    admin = login_headers(database_url, Role.ADMIN)
    scoped = login_headers(database_url, Role.OPERATOR, (MINE,))
    with engine.begin() as connection:
        raise_alarm(connection, station=f"{MINE}/pack-1", kind="test", key="mine", message="m")
        for n in range(3):  # newer, of another line: they would fill a page of one
            raise_alarm(
                connection, station=f"{THEIRS}/pack-1", kind="test", key=f"t{n}", message="t"
            )
    page = client.get("/api/alarms", params={"limit": 1}, headers=scoped).json()
    assert [alarm["key"] for alarm in page] == ["mine"]

    client.post("/api/batches", json={"line": MINE, "gtin": GTIN, "lot": "L1"}, headers=admin)
    for n in range(3):
        client.post(
            "/api/batches", json={"line": THEIRS, "gtin": GTIN, "lot": f"T{n}"}, headers=admin
        )
    batches = client.get("/api/batches", params={"limit": 1}, headers=scoped).json()
    assert [batch["lot"] for batch in batches] == ["L1"]
