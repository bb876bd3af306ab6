"""``/api/producer``, ``/api/locations`` and ``/api/portal/check`` on a real database."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, central_settings
from tests.central.relay.portal_helpers import PACK_GLN, gln, stored_lot
from tests.central.trace_helpers import LOT

PRODUCER = {"name": "Công ty Sữa A", "address": "Bình Dương", "gln": "8938500000003",
            "tax_code": "0301234567-001"}  # fmt: skip


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


def test_producer_round_trip(client: TestClient) -> None:
    assert client.get("/api/producer").status_code == 404
    created = client.put("/api/producer", json=PRODUCER)
    assert created.status_code == 201, created.text
    assert client.put("/api/producer", json={**PRODUCER, "gln": None}).status_code == 200
    body = client.get("/api/producer").json()
    assert (body["name"], body["gln"], body["tax_code"]) == (
        "Công ty Sữa A",
        None,
        "0301234567-001",
    )
    assert client.put("/api/producer", json={**PRODUCER, "tax_code": "12"}).status_code == 422
    assert client.put("/api/producer", json={**PRODUCER, "gln": "8938500000004"}).status_code == 422


def test_location_round_trip(client: TestClient) -> None:
    place = {"name": "Kho thành phẩm", "address": "Bình Dương", "kind": "warehouse"}
    assert client.put(f"/api/locations/{PACK_GLN}", json=place).status_code == 201
    assert client.get(f"/api/locations/{PACK_GLN}").json()["kind"] == "warehouse"
    assert client.get("/api/locations").json()["locations"][0]["gln"] == PACK_GLN
    assert (
        client.put(f"/api/locations/{PACK_GLN}", json={**place, "kind": "moon"}).status_code == 422
    )
    assert "check digit" in client.get("/api/locations/8938500001011").json()["detail"]
    assert client.get(f"/api/locations/{gln(999)}").status_code == 404


def test_product_brand_and_model(client: TestClient) -> None:
    sent = {"name": "Sữa", "brand": "Sữa A", "model_code": "UHT-1L"}
    assert client.put(f"/api/products/{GTIN}", json=sent).status_code == 201
    body = client.get(f"/api/products/{GTIN}").json()
    assert (body["brand"], body["model_code"]) == ("Sữa A", "UHT-1L")


def test_portal_check(client: TestClient, database_url: str) -> None:
    from linetrace.central.store import open_engine

    engine = open_engine(database_url)
    try:
        stored_lot(engine, image_url=None)
    finally:
        engine.dispose()
    answer = client.get("/api/portal/check", params={"lot": f"{GTIN}/{LOT}"})
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert (body["complete"], body["traceability_code"]) == (False, f"(01){GTIN}(10){LOT}")
    assert body["missing_required"][0].startswith("2 product image")
    assert [e["number"] for e in body["elements"]] == list(range(1, 11))
    assert client.get("/api/portal/check", params={"lot": f"{GTIN}/NOPE"}).status_code == 404
    assert client.get("/api/portal/check", params={"lot": "123"}).status_code == 422
