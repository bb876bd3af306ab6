"""CORS is closed unless configured, and a listed origin gets in only with a bearer token."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from linetrace.central.api.app import create_app
from linetrace.central.config import ApiSettings, CentralSettings
from tests.central.helpers import central_settings

ERP = "https://erp.example.com"
EVIL = "https://evil.example"


def _client(database_url: str, origins: tuple[str, ...]) -> TestClient:
    settings = central_settings(database_url)
    api = settings.api.model_copy(update={"cors_origins": origins})
    return TestClient(
        create_app(settings.model_copy(update={"api": api})), base_url="http://localhost"
    )


def _preflight(client: TestClient, origin: str) -> dict[str, str]:
    response = client.options(
        "/api/events",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    return dict(response.headers)


def test_no_origin_may_read_answers_by_default(sqlite_url: str) -> None:
    with _client(sqlite_url, ()) as client:
        assert "access-control-allow-origin" not in _preflight(client, ERP)
        answer = client.get("/healthz", headers={"Origin": ERP})
        assert "access-control-allow-origin" not in answer.headers


def test_a_listed_origin_may_and_another_may_not(sqlite_url: str) -> None:
    with _client(sqlite_url, (ERP,)) as client:
        allowed = _preflight(client, ERP)
        assert allowed["access-control-allow-origin"] == ERP
        assert "authorization" in allowed["access-control-allow-headers"].lower()
        assert "access-control-allow-credentials" not in allowed
        assert "access-control-allow-origin" not in _preflight(client, EVIL)


def _close(client: TestClient, origin: str, *, bearer: bool) -> tuple[int, str]:
    headers = {"Origin": origin, "Sec-Fetch-Site": "cross-site"}
    if bearer:
        headers["Authorization"] = "Bearer lt_not-a-real-token"
    response = client.post("/api/batches/999999/close", headers=headers)
    return response.status_code, response.text


def test_a_listed_origin_passes_the_cross_origin_check_only_with_a_token(sqlite_url: str) -> None:
    with _client(sqlite_url, (ERP,)) as client:
        status, body = _close(client, ERP, bearer=True)
        assert "cross-origin request refused" not in body, (status, body)
        for origin, bearer in ((ERP, False), (EVIL, True), (EVIL, False)):
            status, body = _close(client, origin, bearer=bearer)
            assert status == 403
            assert "cross-origin request refused" in body


@pytest.mark.parametrize(
    "origin", ["*", "https://erp.example.com/path", "erp.example.com", "ftp://x.example"]
)
def test_a_malformed_origin_is_refused_at_start(origin: str) -> None:
    with pytest.raises(ValidationError, match="not an origin"):
        CentralSettings(api=ApiSettings(cors_origins=(origin,)))
