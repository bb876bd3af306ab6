"""Only configured host names are served, another site's page cannot change anything,
and every answer carries the security headers (``[api] allowed_hosts``, item 7)."""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError

from linetrace.central.api.app import create_app
from linetrace.central.api.docs import script_hashes
from linetrace.central.api.headers import SECURITY_HEADERS
from linetrace.central.api.hosts import trusted_hosts
from linetrace.central.config import ApiSettings, CentralSettings, DatabaseSettings
from linetrace.ports import free_port
from tests.central.auth_helpers import login_headers

ORIGIN = "http://127.0.0.1:8080"


def settings(url: str, **api: Any) -> CentralSettings:
    return CentralSettings(database=DatabaseSettings(url=url), api=ApiSettings(**api))


@pytest.fixture
def client(sqlite_url: str) -> Iterator[TestClient]:
    app = create_app(
        settings(sqlite_url, host="10.0.0.5", allowed_hosts=("central.plant.example",))
    )
    with TestClient(
        app, base_url=ORIGIN, raise_server_exceptions=False, headers=login_headers(sqlite_url)
    ) as client:
        yield client


def operations(client: TestClient) -> list[tuple[str, str]]:
    """Every documented operation, path parameters filled in, plus the pages."""
    paths = client.get("/openapi.json").json()["paths"]
    found = [
        (method.upper(), re.sub(r"\{[^}]+\}", "1", path))
        for path, item in paths.items()
        for method in item
    ]
    return [*found, ("GET", "/"), ("GET", "/static/live.js"), ("GET", "/docs")]


def assert_secured(response: object) -> None:
    headers = response.headers  # type: ignore[attr-defined]
    for name, value in SECURITY_HEADERS.items():
        if name == "Content-Security-Policy":
            assert "frame-ancestors 'none'" in headers[name]
        else:
            assert headers[name] == value, name


def test_a_foreign_host_is_refused_on_every_route(client: TestClient) -> None:
    ops = operations(client)
    assert ("POST", "/api/batches") in ops
    assert ("PUT", "/api/producer") in ops
    for method, path in ops:
        response = client.request(method, path, headers={"Host": "evil.example"}, json={})
        assert response.status_code == 400, (method, path)
        assert "allowed_hosts" in response.json()["detail"]
        assert_secured(response)
        with_port = client.request(method, path, headers={"Host": "evil.example:8080"})
        assert with_port.status_code == 400, (method, path)


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "localhost:8080",
        "127.0.0.1:8080",
        "[::1]:8080",
        "10.0.0.5:8080",  # the bind address
        "central.plant.example",
        "CENTRAL.plant.example:8080",
    ],
)
def test_local_names_the_bind_address_and_configured_names_are_served(
    client: TestClient, host: str
) -> None:
    response = client.get("/api/stations", headers={"Host": host})
    assert response.status_code == 200
    assert_secured(response)


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.evil.example", "plant.example", "[::2]", "", "a b"]
)
def test_other_hosts_are_refused(client: TestClient, host: str) -> None:
    assert client.get("/healthz", headers={"Host": host}).status_code == 400


def test_wildcards_allow_subdomains_only(sqlite_url: str) -> None:
    app = create_app(settings(sqlite_url, allowed_hosts=("*.plant.example",)))
    with TestClient(app, base_url="http://a.plant.example") as client:
        assert client.get("/healthz").status_code == 200
        assert client.get("/healthz", headers={"Host": "plant.example.evil"}).status_code == 400


def test_the_defaults_serve_a_local_install() -> None:
    assert trusted_hosts(ApiSettings()) == ["localhost", "127.0.0.1", "[::1]"]
    every_interface = ApiSettings(host="0.0.0.0", allowed_hosts=("central",))  # noqa: S104
    assert trusted_hosts(every_interface) == [
        "localhost",
        "127.0.0.1",
        "[::1]",
        "central",
    ]
    assert "[fe80::1]" in trusted_hosts(ApiSettings(host="fe80::1"))


@pytest.mark.parametrize(
    "bad", ["*", "http://central", "central:8080", "central/api", "-x.example", "a..b", "*x.com"]
)
def test_unusable_allowed_hosts_are_refused_at_start(bad: str) -> None:
    with pytest.raises(ValidationError, match="allowed_hosts"):
        ApiSettings(allowed_hosts=(bad,))


def test_pages_api_answers_and_errors_carry_the_headers(client: TestClient) -> None:
    page = client.get("/live")
    assert page.status_code == 200
    assert page.headers["Content-Security-Policy"].startswith("default-src 'none'")
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    for response, status in (
        (page, 200),
        (client.get("/static/app.css"), 200),
        (client.get("/api/events"), 200),
        (client.get("/api/events", params={"limit": "0"}), 422),
        (client.get("/api/batches/999"), 404),
        (client.get("/nowhere"), 404),
        (
            client.post("/api/batches", content=b"{", headers={"content-type": "application/json"}),
            422,
        ),
    ):
        assert response.status_code == status, response.text
        assert_secured(response)


def test_a_server_error_carries_the_headers(tmp_path: object) -> None:
    down = f"postgresql+psycopg://nobody@127.0.0.1:{free_port()}/gone"
    app = create_app(settings(down))
    with TestClient(app, base_url=ORIGIN, raise_server_exceptions=False) as client:
        # The guard's token look-up is the first to find the database gone.
        response = client.get("/api/stations", headers={"Authorization": "Bearer lt_x"})
    assert response.status_code >= 500
    assert_secured(response)


def test_the_docs_page_allows_exactly_its_own_inline_script(client: TestClient) -> None:
    response = client.get("/docs")
    assert response.status_code == 200
    policy = response.headers["Content-Security-Policy"]
    [inline] = script_hashes(response.content)
    assert f"script-src 'self' {inline};" in policy
    assert "'unsafe-inline'" not in policy.split("script-src")[1].split(";")[0]
    assert "frame-ancestors 'none'" in policy
    assert client.get("/redoc").status_code == 404


@pytest.mark.parametrize(
    "headers",
    [
        {"Sec-Fetch-Site": "cross-site", "Origin": "https://evil.example"},
        {"Sec-Fetch-Site": "same-site", "Origin": "http://other.127.0.0.1:8080"},
        {"Origin": "https://evil.example"},
        {"Origin": "http://127.0.0.1:9999"},
        {"Origin": "null"},
    ],
)
def test_another_sites_page_cannot_change_anything(
    client: TestClient, headers: dict[str, str]
) -> None:
    for path in ("/api/relay/retry", "/api/batches/1/close", "/api/alarms/1/ack"):
        response = client.post(path, headers=headers)
        assert response.status_code == 403, path
        assert "cross-origin" in response.json()["detail"]
        assert_secured(response)
    # Reading is not refused (the browser keeps another origin from reading the answer).
    assert client.get("/api/stations", headers=headers).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},  # curl, the CLI, scripts
        {"Sec-Fetch-Site": "same-origin", "Origin": ORIGIN},
        {"Origin": ORIGIN},
        {"Sec-Fetch-Site": "none"},
    ],
)
def test_own_pages_and_tools_may_change_things(client: TestClient, headers: dict[str, str]) -> None:
    assert client.post("/api/relay/retry", headers=headers).status_code == 200
