"""Requests that used to make the API answer 500, by hand, on SQLite and PostgreSQL: ids
past SQL BIGINT, NUL and lone surrogates, a URL that grows past its limit when
normalised. Each must be a 4xx the OpenAPI document lists, with the body it documents."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, central_settings

BIG = 2**63  # one past the largest SQL BIGINT
LARGEST = 2**63 - 1


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


def _documented(client: TestClient, method: str, path: str) -> set[str]:
    return set(client.app.openapi()["paths"][path][method.lower()]["responses"])  # type: ignore[attr-defined]


def _is_validation_error(body: Any) -> bool:
    """The documented 422 body: a sentence, or FastAPI's list of failed parameters."""
    detail = body["detail"]
    return isinstance(detail, str) or all({"loc", "msg", "type"} <= set(e) for e in detail)


# One client per backend for many requests: the app starts once, the test stays quick.
BIG_IDS = [
    ("GET", f"/api/dead-letters?before_id={BIG}", "/api/dead-letters"),
    ("GET", f"/api/batches/{BIG}", "/api/batches/{batch_id}"),
    ("POST", f"/api/batches/{BIG}/close", "/api/batches/{batch_id}/close"),
    ("POST", f"/api/alarms/{BIG}/ack", "/api/alarms/{alarm_id}/ack"),
]


def test_ids_past_bigint_are_a_422(client: TestClient) -> None:
    for method, url, path in BIG_IDS:
        body = {"by": "ana"} if "ack" in url else None
        response = client.request(method, url, json=body)
        assert response.status_code == 422, (url, response.text)
        assert "less than or equal to 9223372036854775807" in response.text
        assert "422" in _documented(client, method, path)
        in_range = client.request(method, url.replace(str(BIG), str(LARGEST)), json=body)
        assert in_range.status_code in {200, 404}, (url, in_range.text)


NUL_PARAMETERS = [
    "/api/events?code=%00",
    "/api/events?code=a%00b",
    "/api/dead-letters?reason_prefix=unknown%00",
    "/api/products?after=%00",
    "/api/locations?after=%00",
    "/api/alarms?station=hcm1/L1/pack-1%00",
    "/api/alarms?kind=%00",
    "/api/batches?lot=%00",
    "/api/relay?lot=%00",
    "/api/traces/code/%00",
    "/api/traces/code/01/08938500000010/21/%00",
    "/api/traces/lot/L%00",
]


def test_nul_in_a_parameter_is_a_422(client: TestClient) -> None:
    for url in NUL_PARAMETERS:
        response = client.get(url)
        assert response.status_code == 422, (url, response.text)
        assert _is_validation_error(response.json())
        assert "must not hold NUL" in response.text


UNSTORABLE_BODIES = [
    ("POST", "/api/alarms/1/ack", '{"by": "\\ud800"}'),
    ("POST", "/api/alarms/1/ack", '{"by": "a\\u0000"}'),
    ("POST", "/api/stations", '{"station": "hcm1/L1/pack-1", "role": "\\udfff"}'),
    ("PUT", f"/api/products/{GTIN}", '{"name": "S\\u1eefa \\ud83d"}'),
    ("PUT", f"/api/products/{GTIN}", '{"name": "x", "standards": ["TCVN\\u0000"]}'),
    ("PUT", "/api/producer", '{"name": "A", "address": "B", "\\ud800": 1}'),
    ("POST", "/api/batches", '{"line": "hcm1/L1", "gtin": "1", "lot": "L\\ud800"}'),
]


def test_unstorable_text_in_a_body_is_a_422(client: TestClient) -> None:
    for method, url, text in UNSTORABLE_BODIES:
        response = client.request(
            method, url, content=text, headers={"content-type": "application/json"}
        )
        assert response.status_code == 422, (text, response.text)
        body = response.json()
        assert _is_validation_error(body)
        assert body["detail"][0]["loc"][0] == "body"


def test_a_url_that_grows_past_its_limit_when_normalised_is_refused(client: TestClient) -> None:
    # 2,083 characters as sent; normalising adds the path's "/", one past HttpUrl's limit.
    url = "https://cdn.example.com?" + "a" * (2083 - len("https://cdn.example.com?"))
    refused = client.put(f"/api/products/{GTIN}", json={"name": "Sữa", "image_url": url})
    assert refused.status_code == 422, refused.text
    assert "once normalised" in refused.text
    fits = "https://cdn.example.com/" + "a" * (2083 - len("https://cdn.example.com/"))
    assert client.put(f"/api/products/{GTIN}", json={"name": "Sữa", "image_url": fits}).is_success
    assert client.get(f"/api/products/{GTIN}").json()["image_url"] == fits


def test_an_unreadable_body_is_a_documented_400(client: TestClient) -> None:
    response = client.post(
        "/api/stations",
        content=b'{"station": "\xff"}',
        headers={"content-type": "application/json"},
    )
    assert response.status_code == 400, response.text
    assert "400" in _documented(client, "POST", "/api/stations")


def test_times_must_be_rfc3339_text(client: TestClient) -> None:
    assert client.get("/api/events", params={"until": "0.5"}).status_code == 422
    assert client.get("/api/events", params={"until": "2025-03-01T08:00:00+07:00"}).is_success


def test_a_wrong_method_is_a_405_naming_every_method_of_the_path(client: TestClient) -> None:
    for url, allowed in [
        ("/api/stations", "GET, POST"),
        ("/api/products/08938500000010", "GET, PUT"),
        ("/api/batches/1/close", "POST"),
    ]:
        response = client.options(url)
        assert (response.status_code, response.headers["allow"]) == (405, allowed)


def test_the_document_lists_every_error_each_route_answers(client: TestClient) -> None:
    document = client.app.openapi()  # type: ignore[attr-defined]
    expected = {
        ("get", "/api/events"): {"400", "422"},
        ("post", "/api/batches"): {"400", "409", "422"},
        ("post", "/api/batches/{batch_id}/close"): {"404", "409", "422"},
        ("get", "/api/traces/code/{code}"): {"404", "422"},
        ("get", "/api/producer"): {"404"},
        ("get", "/healthz"): {"503"},
    }
    for (method, path), codes in expected.items():
        assert codes <= set(document["paths"][path][method]["responses"]), (method, path)
    gaps = document["components"]["schemas"]["StationOut"]["properties"]["open_gaps"]
    assert gaps["items"] == {"type": "array", "items": {"type": "integer"}, "minItems": 2,
                             "maxItems": 2}  # fmt: skip
    schema_422 = json.dumps(document["paths"]["/api/events"]["get"]["responses"]["422"])
    assert "ValidationErrorOut" in schema_422
