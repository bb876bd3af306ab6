"""Every route of the real app, walked for every role and scope: deny by default.

The operations come from ``app.openapi()`` plus the page routes (left out of the
description), so a new route is in the matrix the day it lands; a route without a rule
does not even build (the last test).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import APIRouter
from fastapi.testclient import TestClient

from linetrace.central.api import health
from linetrace.central.api.app import create_app
from linetrace.central.auth import Permission, Role
from linetrace.central.auth.guard import Rule, UnguardedRoute, guarded_routes
from linetrace.central.auth.roles import ROLE_PERMISSIONS
from tests.central.auth_helpers import login_headers
from tests.central.helpers import central_settings

# Answers that stream until the client leaves: only their refusals are walked.
ENDLESS = {"/api/stream"}
# Values that get a request past path validation to the guard's verdict.
PATH_VALUES = {"gtin": "09506000134352", "gln": "9506000134352", "code": "0109506000134352"}
SCOPES: list[tuple[str, ...]] = [(), ("hcm1/L1",)]


def _path(template: str) -> str:
    def value(match: re.Match[str]) -> str:
        name = match.group(1).split(":")[0]
        return PATH_VALUES.get(name, "1" if name.endswith("id") else "x")

    return re.sub(r"\{([^}]+)\}", value, template)


def _operations(app: Any) -> Iterator[tuple[str, str, Rule]]:
    documented = {
        (method.upper(), path)
        for path, item in app.openapi()["paths"].items()
        for method in item
        if method in {"get", "post", "put", "patch", "delete"}
    }
    walked: set[tuple[str, str]] = set()
    for route, rule in guarded_routes(app.routes):
        for method in sorted(route.methods - {"HEAD"}):
            if route.include_in_schema:
                walked.add((method, re.sub(r":\w+}", "}", route.path)))
            yield method, route.path, rule
    assert walked == documented  # every documented operation carries a rule


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url)), follow_redirects=False) as client:
        yield client


def _call(client: TestClient, method: str, path: str, headers: dict[str, str]) -> int:
    body: dict[str, Any] | None = {} if method in {"POST", "PUT", "PATCH"} else None
    return client.request(method, _path(path), headers=headers, json=body).status_code


def test_every_route_refuses_the_unauthenticated(client: TestClient) -> None:
    operations = list(_operations(client.app))
    assert len(operations) > 40
    for method, path, rule in operations:
        status = _call(client, method, path, {})
        if rule.permission is None:
            # A sign-in with no password is a wrong password: 401 from the form, not the guard.
            assert status not in (401, 403) or path == "/login", (method, path, status)
        elif rule.page and method == "GET":
            assert status == 303, (method, path, status)
        else:
            assert status == 401, (method, path, status)


@pytest.mark.parametrize("scopes", SCOPES, ids=["unscoped", "line"])
@pytest.mark.parametrize("role", list(Role))
def test_each_role_gets_exactly_its_permissions(
    client: TestClient, database_url: str, role: Role, scopes: tuple[str, ...]
) -> None:
    headers = login_headers(database_url, role, scopes)
    for method, path, rule in _operations(client.app):
        if rule.permission is None:
            continue
        allowed = rule.permission in ROLE_PERMISSIONS[role]
        if allowed and path in ENDLESS:
            continue
        status = _call(client, method, path, headers)
        if allowed:
            assert status not in (401, 403), (role, method, path, status)
        else:
            assert status == 403, (role, method, path, status)


def test_the_published_rules_match_the_brief(client: TestClient) -> None:
    rules = {(m, p): r.permission for m, p, r in _operations(client.app)}
    public = {key for key, permission in rules.items() if permission is None}
    assert ("GET", "/healthz") in public
    assert ("GET", "/metrics") in public
    assert ("GET", "/api/events") not in public
    assert rules[("POST", "/api/batches")] is Permission.OPERATE
    assert rules[("PUT", "/api/products/{gtin}")] is Permission.ADMINISTER
    assert all(
        p.startswith(("/login", "/logout", "/language/", "/healthz", "/metrics")) for _, p in public
    )


def test_a_route_without_a_rule_stops_the_app(
    monkeypatch: pytest.MonkeyPatch, database_url: str
) -> None:
    forgotten = APIRouter()

    @forgotten.get("/api/forgotten")
    def forgotten_route() -> str:
        return "anyone"

    monkeypatch.setattr(health, "router", forgotten)
    with pytest.raises(UnguardedRoute, match="/api/forgotten"):
        create_app(central_settings(database_url))


def test_the_description_names_the_token_and_the_refusals(
    client: TestClient, database_url: str
) -> None:
    assert client.get("/openapi.json").status_code == 401  # it too needs a login
    assert client.get("/docs").status_code == 303  # to the login page
    document = client.get("/openapi.json", headers=login_headers(database_url, Role.AUDITOR)).json()
    assert document["components"]["securitySchemes"]["token"]["scheme"] == "bearer"
    events = document["paths"]["/api/events"]["get"]
    assert events["security"] == [{"token": []}]
    assert {"401", "403"} <= set(events["responses"])
    assert "security" not in document["paths"]["/healthz"]["get"]
    assert "401" not in document["paths"]["/healthz"]["get"]["responses"]
