"""Signing in and out in a real headless Chromium, against a real central server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from tests.central.auth_helpers import login, make_user
from tests.central.helpers import central_settings
from tests.central.serving import serving

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def test_a_wrong_password_is_refused_then_the_right_one_signs_in_and_out(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    name = make_user(sqlite_url, Role.OPERATOR)
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        page.goto(server + "/live")
        page.wait_for_url("**/login?next=*")
        page.fill("input[name=username]", name)
        page.fill("input[name=password]", "not the password")
        page.click("button[type=submit]")
        page.locator("#login-error").wait_for()
        page.screenshot(path=str(SCREENSHOTS / "login-refused.png"))
        page.fill("input[name=password]", "correct horse battery staple")
        page.click("button[type=submit]")
        page.wait_for_url("**/live")
        assert name in page.locator(".who").inner_text()
        cookies = {c["name"]: c for c in page.context.cookies()}
        assert cookies["linetrace_session"]["httpOnly"]
        assert cookies["linetrace_session"]["sameSite"] == "Strict"
        page.screenshot(path=str(SCREENSHOTS / "login-signed-in.png"))
        page.click(".logout button[type=submit]")  # a form post with the CSRF field
        page.wait_for_url("**/login")
        page.goto(server + "/live")
        page.wait_for_url("**/login?next=*")
    finally:
        page.close()


def test_the_helper_logs_a_browser_in(chromium: Any, server: str, sqlite_url: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 800, "height": 1100})
    page = context.new_page()
    try:
        name = login(page, server, sqlite_url, Role.AUDITOR, next_path="/live")
        assert name in page.locator(".who").inner_text()
        page.screenshot(path=str(SCREENSHOTS / "login-tablet.png"))
    finally:
        context.close()
