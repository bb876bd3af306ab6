"""Product master data: GTIN rules, replace-on-set, listing; through the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.derive.products import (
    ProductData,
    get_product,
    list_products,
    put_product,
)
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14
from tests.central.auth_helpers import login_headers
from tests.central.central_main import main
from tests.central.helpers import GTIN, central_settings
from tests.central.running import write_config
from tests.central.trace_helpers import OTHER_GTIN

FULL = {
    "name": "Sữa tươi tiệt trùng 1 L",
    "image_url": "https://example.com/milk.jpg",
    "producer_name": "Công ty Sữa A",
    "producer_address": "12 Lê Lợi, Quận 1, TP. Hồ Chí Minh",
    "producer_gln": "8938500000003",
    "unit": "hộp",
    "standards": ["TCVN 7028:2009", "QCVN 5-1:2010/BYT"],
    "description": "Tiệt trùng UHT",
}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


@pytest.mark.parametrize(
    ("given", "stored"),
    [
        ("8938500000010", GTIN),
        (GTIN, GTIN),
        ("96385074", "00000096385074"),
        ("036000291452", "00036000291452"),
    ],
)
def test_gtins_are_stored_as_gtin14(given: str, stored: str) -> None:
    assert gtin14(given) == stored


@pytest.mark.parametrize(
    ("given", "reason"),
    [("8938500000011", "check digit"), ("893850000001", "check digit"), ("12345", "8, 12, 13")],
)
def test_bad_gtins_are_refused(given: str, reason: str) -> None:
    with pytest.raises(InvalidCode, match=reason):
        gtin14(given)


def test_master_data_is_validated() -> None:
    with pytest.raises(ValidationError, match="check digit"):
        ProductData(name="x", producer_gln="8938500000004")
    with pytest.raises(ValidationError, match="URL"):
        ProductData.model_validate({"name": "x", "image_url": "not a url"})
    with pytest.raises(ValidationError, match="name"):
        ProductData(name="   ")
    with pytest.raises(ValidationError, match="extra"):
        ProductData.model_validate({"name": "x", "colour": "red"})


def test_setting_replaces_the_whole_record_and_keeps_its_creation(engine: Engine) -> None:
    with engine.begin() as connection:
        first, created = put_product(connection, GTIN, ProductData.model_validate(FULL))
    assert created
    assert first.producer_gln == "8938500000003"
    assert str(first.image_url) == FULL["image_url"]
    assert first.standards == FULL["standards"]
    with engine.begin() as connection:
        second, created = put_product(connection, GTIN, ProductData(name="Sữa 1 L"))
        stored = get_product(connection, GTIN)
    assert not created
    assert second == stored
    assert (second.name, second.producer_name, second.standards) == ("Sữa 1 L", None, [])
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at


def test_products_are_listed_in_gtin_order_a_page_at_a_time(engine: Engine) -> None:
    with engine.begin() as connection:
        for gtin in (OTHER_GTIN, GTIN):
            put_product(connection, gtin, ProductData(name=gtin))
        first = list_products(connection, limit=1)
        rest = list_products(connection, after=first[-1].gtin)
    assert [p.gtin for p in first + rest] == [GTIN, OTHER_GTIN]


def test_api_put_creates_then_replaces(client: TestClient) -> None:
    created = client.put("/api/products/8938500000010", json=FULL)
    assert created.status_code == 201, created.text
    assert created.json()["gtin"] == GTIN
    replaced = client.put(f"/api/products/{GTIN}", json={"name": "Sữa 1 L"})
    assert replaced.status_code == 200
    body = client.get(f"/api/products/{GTIN}").json()
    assert (body["name"], body["producer_name"]) == ("Sữa 1 L", None)


def test_api_refuses_bad_gtins_and_bodies_and_says_404_for_unknown(client: TestClient) -> None:
    assert "check digit" in client.get("/api/products/8938500000011").json()["detail"]
    assert client.put("/api/products/8938500000011", json=FULL).status_code == 422
    assert client.put(f"/api/products/{GTIN}", json={**FULL, "colour": "red"}).status_code == 422
    assert client.put(f"/api/products/{GTIN}", json={"unit": "box"}).status_code == 422
    missing = client.get(f"/api/products/{OTHER_GTIN}")
    assert missing.status_code == 404
    assert OTHER_GTIN in missing.json()["detail"]


def test_api_lists_a_page_at_a_time(client: TestClient) -> None:
    for gtin in (GTIN, OTHER_GTIN):
        client.put(f"/api/products/{gtin}", json={"name": gtin})
    first = client.get("/api/products", params={"limit": 1}).json()
    assert [p["gtin"] for p in first["products"]] == [GTIN]
    rest = client.get("/api/products", params={"after": first["next_after"]}).json()
    assert [p["gtin"] for p in rest["products"]] == [OTHER_GTIN]
    assert rest["next_after"] is None


def test_cli_sets_and_lists(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "central.toml", database_url))
    assert main(["central", "product", "set", "8938500000010", "--name", "Sữa", "--config", config,
                 "--producer", "Công ty A", "--standard", "TCVN 1", "--standard", "ISO 22000"]) == 0  # fmt: skip
    set_out = json.loads(capsys.readouterr().out)
    assert (set_out["gtin"], set_out["standards"]) == (GTIN, ["TCVN 1", "ISO 22000"])
    assert main(["central", "product", "list", "--config", config]) == 0
    listed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert [(p["gtin"], p["producer_name"]) for p in listed] == [(GTIN, "Công ty A")]


def test_cli_refuses_a_bad_gtin_with_the_reason(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "central.toml", database_url))
    status = main(["central", "product", "set", "8938500000011", "--name", "x", "--config", config])
    assert status == 2
    assert "check digit" in capsys.readouterr().err
