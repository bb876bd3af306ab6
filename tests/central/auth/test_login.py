"""The login page, the session cookie, /api/me, the rate limit and the password change."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from linetrace.central.auth.accounts import add_user
from linetrace.central.auth.guard import CSRF_HEADER, SESSION_COOKIE
from linetrace.central.store import open_engine
from linetrace.central.store.audit_tables import audit_log
from tests.central.auth_helpers import TEST_PASSWORD, make_user
from tests.central.helpers import central_settings

FORM = {"Content-Type": "application/x-www-form-urlencoded"}


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url)), follow_redirects=False) as client:
        yield client


def _login(client: TestClient, name: str, password: str, next_path: str = "/") -> int:
    answer = client.post("/login", data={"username": name, "password": password, "next": next_path})
    return answer.status_code


def _csrf(client: TestClient) -> str:
    page = client.get("/live").text
    found = re.search(r'<meta name="csrf-token" content="([^"]+)">', page)
    assert found is not None
    return found.group(1)


def _actions(database_url: str) -> list[str]:
    engine = open_engine(database_url)
    with engine.connect() as connection:
        rows = connection.execute(sa.select(audit_log.c.action).order_by(audit_log.c.id))
        actions = [row.action for row in rows]
    engine.dispose()
    return actions


def test_login_sets_a_strict_http_only_cookie_and_me_answers(
    client: TestClient, database_url: str
) -> None:
    assert client.get("/").headers["location"].startswith("/login?next=")
    page = client.get("/login")
    assert page.status_code == 200
    assert 'name="password"' in page.text
    name = make_user(database_url, Role.AUDITOR, ("hcm1",))
    answer = client.post(
        "/login", data={"username": name, "password": TEST_PASSWORD, "next": "/live"}
    )
    assert answer.status_code == 303
    assert answer.headers["location"] == "/live"
    cookie = answer.headers["set-cookie"]
    assert cookie.startswith(f"{SESSION_COOKIE}=")
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    me = client.get("/api/me").json()
    assert me["name"] == name
    assert me["role"] == "auditor"
    assert me["scopes"] == ["hcm1"]
    assert me["via"] == "session"
    assert client.put("/api/me/language", json={"language": "en"}).status_code == 403
    changed = client.put(
        "/api/me/language", json={"language": "en"}, headers={CSRF_HEADER: _csrf(client)}
    )
    assert changed.status_code == 200
    assert client.get("/api/me").json()["language"] == "en"
    assert client.post("/logout", data={"csrf_token": _csrf(client)}).status_code == 303
    assert client.get("/api/me").status_code == 401
    assert _actions(database_url) == ["login", "user.language", "logout"]


def test_an_open_redirect_is_not_followed(client: TestClient, database_url: str) -> None:
    name = make_user(database_url)
    answer = client.post(
        "/login", data={"username": name, "password": TEST_PASSWORD, "next": "//evil.example"}
    )
    assert answer.headers["location"] == "/"


def test_failed_logins_are_audited_then_rate_limited(client: TestClient, database_url: str) -> None:
    name = make_user(database_url)
    assert _login(client, "nobody", "whatever it is") == 401
    for _ in range(4):
        assert _login(client, name, "not the password") == 401
    blocked = client.post("/login", data={"username": name, "password": TEST_PASSWORD})
    assert blocked.status_code == 429
    assert 0 < int(blocked.headers["Retry-After"]) <= 300
    assert _actions(database_url) == ["login.failed"] * 5


def test_a_one_time_password_must_be_changed_first(client: TestClient, database_url: str) -> None:
    engine = open_engine(database_url)
    with engine.begin() as connection:
        add_user(connection, "lan", role=Role.OPERATOR, password="one-time-secret-1")
    engine.dispose()
    answer = client.post(
        "/login", data={"username": "lan", "password": "one-time-secret-1", "next": "/live"}
    )
    assert answer.headers["location"] == "/login/password?next=/live"
    assert client.get("/live").headers["location"] == "/login/password"
    assert client.get("/api/me").status_code == 403
    page = client.get("/login/password").text
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page)
    assert csrf is not None
    fields = {"csrf_token": csrf.group(1), "current": "one-time-secret-1", "next": "/live"}
    differ = client.post("/login/password", data={**fields, "new": "a" * 12, "again": "b" * 12})
    assert differ.status_code == 422
    short = client.post("/login/password", data={**fields, "new": "short", "again": "short"})
    assert short.status_code == 422
    wrong = {**fields, "current": "not it at all", "new": "c" * 12, "again": "c" * 12}
    assert client.post("/login/password", data=wrong).status_code == 403
    done = client.post("/login/password", data={**fields, "new": "c" * 12, "again": "c" * 12})
    assert done.status_code == 303
    assert done.headers["location"] == "/live"
    assert client.get("/api/me").json()["name"] == "lan"


def test_a_token_has_no_language_to_save(client: TestClient, database_url: str) -> None:
    from tests.central.auth_helpers import login_headers

    headers = login_headers(database_url, Role.OPERATOR)
    answer = client.put("/api/me/language", json={"language": "vi"}, headers=headers)
    assert answer.status_code == 409
