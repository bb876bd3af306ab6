"""``GET /api/audit`` for auditors, and the records that API actions leave in it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.audit.verify import verify_chain
from linetrace.central.auth.roles import Role
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, central_settings


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url))) as client:
        yield client


def product(client: TestClient, headers: dict[str, str], name: str) -> None:
    answer = client.put(
        f"/api/products/{GTIN}",
        json={"name": name, "producer_name": "Công ty A", "producer_address": "HCM"},
        headers=headers,
    )
    assert answer.status_code in (200, 201), answer.text


def test_actions_are_recorded_against_the_principal(client: TestClient, database_url: str) -> None:
    admin = login_headers(database_url, Role.ADMIN)
    auditor = login_headers(database_url, Role.AUDITOR)
    product(client, admin, "Nước mắm")
    product(client, admin, "Nước mắm 500 ml")
    page = client.get("/api/audit", params={"action": "product."}, headers=auditor).json()
    assert page["total"] == 2
    assert [r["action"] for r in page["records"]] == ["product.update", "product.create"]
    assert page["records"][0]["target"] == f"product/{GTIN}"
    assert page["records"][0]["details"]["name"] == "Nước mắm 500 ml"
    assert page["records"][0]["actor"] != "anonymous"
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            assert verify_chain(connection).intact
    finally:
        engine.dispose()


def test_pages_carry_the_total(client: TestClient, database_url: str) -> None:
    admin = login_headers(database_url, Role.ADMIN)
    for n in range(5):
        product(client, admin, f"Sản phẩm {n}")
    page = client.get("/api/audit", params={"limit": 2, "offset": 2}, headers=admin).json()
    assert page["total"] >= 5
    assert len(page["records"]) == 2
    assert page["records"][0]["id"] > page["records"][1]["id"]


@pytest.mark.parametrize("role", [Role.OPERATOR])
def test_operators_may_not_read_the_audit_log(
    client: TestClient, database_url: str, role: Role
) -> None:
    answer = client.get("/api/audit", headers=login_headers(database_url, role))
    assert answer.status_code == 403
    assert client.get("/api/audit").status_code == 401


@pytest.mark.parametrize(
    ("params", "says"),
    [
        ({"since": "yesterday"}, "RFC 3339"),
        ({"since": "2026-01-02T00:00:00+07:00", "until": "2026-01-01T00:00:00+07:00"}, "until"),
        ({"limit": "0"}, "limit"),
        ({"offset": "-1"}, "offset"),
    ],
)
def test_bad_filters_are_422(
    client: TestClient, database_url: str, params: dict[str, str], says: str
) -> None:
    answer = client.get("/api/audit", params=params, headers=login_headers(database_url))
    assert answer.status_code == 422
    assert says in answer.text
