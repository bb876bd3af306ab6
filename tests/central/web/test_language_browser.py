"""A person switches the pages to Vietnamese and back in a real Chromium; the choice is
kept on their account; and a role that may not do a thing is refused in the page and the
API alike."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from tests.central.auth_helpers import login
from tests.central.helpers import STATION, central_settings, register
from tests.central.serving import serving

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    register(sqlite_url, STATION)
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def test_switching_language_is_kept_on_the_account(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    page = context.new_page()
    try:
        name = login(page, server, sqlite_url, Role.AUDITOR, next_path="/live")
        nav = page.locator("header.top nav")
        assert "Dashboard" in nav.inner_text()
        page.click("a[data-language=vi]")
        page.locator("html[lang=vi]").wait_for(state="attached")
        assert "Bảng điều khiển" in nav.inner_text()
        assert "Sự kiện trực tiếp" in page.title()
        page.screenshot(path=str(SCREENSHOTS / "language-vietnamese.png"))
    finally:
        context.close()

    # The choice is the account's: another browser of the same person gets Vietnamese,
    # another person still gets the browser's English.
    for account, expected in ((name, "vi"), (None, "en")):
        other = chromium.new_context(locale="en-GB")
        try:
            fresh = other.new_page()
            login(fresh, server, sqlite_url, Role.AUDITOR, next_path="/live", name=account)
            assert fresh.evaluate("document.documentElement.lang") == expected
        finally:
            other.close()

    page = chromium.new_context(locale="en-GB").new_page()
    try:
        login(page, server, sqlite_url, Role.AUDITOR, next_path="/live", name=name)
        page.click("a[data-language=en]")
        page.locator("html[lang=en]").wait_for(state="attached")
        assert "Dashboard" in page.locator("header.top nav").inner_text()
    finally:
        page.context.close()


def test_an_auditor_is_refused_a_batch_in_the_page_and_in_the_api(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        login(page, server, sqlite_url, Role.AUDITOR, next_path="/")
        line = page.locator('section.line[data-line="hcm1/L1"]')
        line.wait_for()
        assert line.locator("button.start-batch").count() == 0
        status = page.evaluate(
            """async () => {
                const token = document.querySelector('meta[name="csrf-token"]').content;
                const answer = await fetch('/api/batches', {method: 'POST',
                    headers: {'Content-Type': 'application/json', 'X-CSRF-Token': token},
                    body: JSON.stringify({line: 'hcm1/L1', gtin: '08938500000010', lot: 'L1'})});
                return answer.status;
            }"""
        )
        assert status == 403
    finally:
        page.close()
