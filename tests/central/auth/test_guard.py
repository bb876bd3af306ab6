"""The guard on a small app of its own: who gets in, CSRF, scopes, and deny by default."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi import APIRouter, FastAPI
from fastapi.testclient import TestClient

from linetrace.central.auth import Permission, Role
from linetrace.central.auth.guard import (
    CSRF_HEADER,
    SESSION_COOKIE,
    CurrentPrincipal,
    UnguardedRoute,
    allow,
    public,
    refuse_unguarded,
)
from linetrace.central.auth.sessions import start_session
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers, make_user


def _app(database_url: str) -> FastAPI:
    app = FastAPI(docs_url=None, redoc_url=None)
    app.state.engine = open_engine(database_url)

    @app.get("/open", dependencies=[public()])
    def open_route() -> str:
        return "open"

    @app.get("/view", dependencies=[allow(Permission.VIEW)])
    def view(principal: CurrentPrincipal) -> dict[str, str]:
        return {"name": principal.name, "via": principal.via}

    @app.post("/operate", dependencies=[allow(Permission.OPERATE)])
    def operate() -> str:
        return "done"

    @app.get("/page", dependencies=[allow(Permission.VIEW, page=True)])
    def page() -> str:
        return "page"

    @app.get("/lines/{site}/{line}", dependencies=[allow(Permission.VIEW)])
    def line(site: str, line: str) -> str:
        return f"{site}/{line}"

    @app.post("/lines/{site}/{line}/batch", dependencies=[allow(Permission.OPERATE)])
    def batch(site: str, line: str) -> str:
        return "started"

    refuse_unguarded(app.routes, openapi_url=app.openapi_url)
    return app


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    app = _app(database_url)
    with TestClient(app, follow_redirects=False) as client:
        yield client
    app.state.engine.dispose()


def _session(database_url: str, role: Role) -> tuple[str, str]:
    name = make_user(database_url, role)
    engine = open_engine(database_url)
    with engine.begin() as connection:
        secret, csrf = start_session(connection, name, max_age=timedelta(days=1))
    engine.dispose()
    return secret, csrf


def test_unauthenticated_is_401_or_a_redirect_to_login(client: TestClient) -> None:
    assert client.get("/open").status_code == 200
    answer = client.get("/view")
    assert answer.status_code == 401
    assert answer.headers["WWW-Authenticate"] == "Bearer"
    assert client.get("/view", headers={"Authorization": "Bearer lt_nope"}).status_code == 401
    assert client.get("/view", headers={"Authorization": "Basic abc"}).status_code == 401
    page = client.get("/page?x=1")
    assert page.status_code == 303
    assert page.headers["location"] == "/login?next=%2Fpage%3Fx%3D1"


def test_tokens_get_in_and_roles_are_enforced(client: TestClient, database_url: str) -> None:
    auditor = login_headers(database_url, Role.AUDITOR)
    operator = login_headers(database_url, Role.OPERATOR)
    answer = client.get("/view", headers=auditor)
    assert answer.status_code == 200
    assert answer.json()["via"] == "token"
    refused = client.post("/operate", headers=auditor)
    assert refused.status_code == 403
    assert "auditor" in refused.json()["detail"]
    assert client.post("/operate", headers=operator).status_code == 200  # no CSRF for tokens


def test_cookie_changes_need_the_session_csrf_token(client: TestClient, database_url: str) -> None:
    secret, csrf = _session(database_url, Role.OPERATOR)
    client.cookies.set(SESSION_COOKIE, secret)
    assert client.get("/view").json()["via"] == "session"
    assert client.post("/operate").status_code == 403
    assert client.post("/operate", headers={CSRF_HEADER: "wrong"}).status_code == 403
    assert client.post("/operate", headers={CSRF_HEADER: csrf}).status_code == 200
    form = client.post(
        "/operate",
        content=f"csrf_token={csrf}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert form.status_code == 200


def test_scoped_principals_see_and_change_only_their_lines(
    client: TestClient, database_url: str
) -> None:
    scoped = login_headers(database_url, Role.OPERATOR, ("hcm1/L1",))
    assert client.get("/lines/hcm1/L1", headers=scoped).status_code == 200
    assert client.get("/lines/hcm1/L2", headers=scoped).status_code == 404
    assert client.post("/lines/hcm1/L1/batch", headers=scoped).status_code == 200
    assert client.post("/lines/hcm1/L2/batch", headers=scoped).status_code == 403
    unscoped = login_headers(database_url, Role.OPERATOR)
    assert client.get("/lines/hn2/L7", headers=unscoped).status_code == 200


def test_a_route_without_a_rule_is_refused() -> None:
    app = FastAPI(docs_url=None, redoc_url=None)

    @app.get("/forgotten")
    def forgotten() -> str:
        return "x"

    with pytest.raises(UnguardedRoute, match="/forgotten"):
        refuse_unguarded(app.routes, openapi_url=app.openapi_url)

    router = APIRouter(dependencies=[public()])
    router.add_api_route("/twice", forgotten, dependencies=[allow(Permission.VIEW)])
    doubled = FastAPI(docs_url=None, redoc_url=None)
    doubled.include_router(router)
    with pytest.raises(UnguardedRoute, match="2 access rules"):
        refuse_unguarded(doubled.routes, openapi_url=doubled.openapi_url)
