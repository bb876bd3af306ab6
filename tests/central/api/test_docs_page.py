"""``/docs`` shows the examples to a person, in a real headless Chromium and with no way
out: an operation opened shows its written summary and the example of its answer, and a
body operation the example to send."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from linetrace.central.auth import Role
from tests.central.api.test_web_security import central  # noqa: F401  (the fixture)
from tests.central.auth_helpers import login

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path("build/screenshots")


def test_the_docs_page_shows_the_examples(
    chromium: Any,
    central: tuple[str, int],  # noqa: F811
    sqlite_url: str,
) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    leaving: list[str] = []

    def refuse_outside(route: Any) -> None:
        if route.request.url.startswith(central[0]):
            route.continue_()
        else:
            leaving.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_outside)
    try:
        login(page, central[0], sqlite_url, Role.AUDITOR, next_path="/docs")
        stations = page.locator("#operations-default-get_stations_api_stations_get")
        if not stations.count():
            stations = page.locator(".opblock", has_text="/api/stations").first
        stations.locator(".opblock-summary").first.click()
        stations.get_by_text("The registered stations and their seq progress").first.wait_for()
        stations.locator(".microlight", has_text="hcm1/L1/pack-1").first.wait_for()
        product = page.locator(".opblock-put", has_text="/api/products/{gtin}").first
        product.locator(".opblock-summary").first.click()
        example = product.locator(".body-param__example, .microlight", has_text="TCVN 7405:2018")
        example.first.wait_for()
        example.first.scroll_into_view_if_needed()
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "docs-examples.png"), full_page=False)
        assert leaving == []
    finally:
        page.close()
