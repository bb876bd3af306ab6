"""The search and trace pages in a real headless Chromium: filter, page forward and back
with the total shown, sort, open a trace from a row; at control-room and tablet widths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.store import open_engine
from linetrace.central.web.i18n import LANGUAGE_COOKIE
from tests.central.auth_helpers import login
from tests.central.helpers import GTIN, central_settings, make_event
from tests.central.search.plant import ITEMS, packed_plant
from tests.central.serving import serving
from tests.central.trace_helpers import store

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
OTHER_LINE = 20  # events on hn1/L2/label besides the packed plant's 32


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """``linetrace central``'s app under uvicorn on a free port, with a plant stored."""
    engine = open_engine(sqlite_url)
    try:
        packed_plant(engine)
        store(engine, *(make_event(n, station="hn1/L2/label") for n in range(1, OTHER_LINE + 1)))
    finally:
        engine.dispose()
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def signed_in(chromium: Any, base_url: str, url: str, width: int = 1366) -> tuple[Any, Any]:
    context = chromium.new_context(viewport={"width": width, "height": 768}, locale="en-GB")
    context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "en", "url": base_url}])
    page = context.new_page()
    login(page, base_url, url, Role.AUDITOR, next_path="/search")
    return context, page


def first_cells(page: Any) -> list[str]:
    texts: list[str] = page.locator("#search-results tbody tr td:nth-child(3)").all_inner_texts()
    return texts


def test_search_pages_forward_and_back_and_opens_a_trace(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    total = ITEMS + 2 + OTHER_LINE
    context, page = signed_in(chromium, server, sqlite_url)
    try:
        rows = page.locator("#search-results tbody tr")
        expect(page.locator("#search-total")).to_have_text(f"Events 1–50 of {total}")
        page.select_option("select[name=limit]", "25")
        page.click("#search-run")
        expect(page.locator("#search-total")).to_have_text(f"Events 1–25 of {total}")
        expect(rows).to_have_count(25)
        assert "+07:00" in rows.first.locator("td").first.inner_text()
        first_page = first_cells(page)
        expect(page.locator("#page-prev")).to_be_disabled()

        page.click("#page-next")
        expect(page.locator("#search-total")).to_have_text(f"Events 26–50 of {total}")
        second_page = first_cells(page)
        assert second_page != first_page
        page.click("#page-next")
        expect(page.locator("#search-total")).to_have_text(f"Events 51–{total} of {total}")
        expect(rows).to_have_count(total - 50)
        expect(page.locator("#page-next")).to_be_disabled()
        page.screenshot(path=str(SCREENSHOTS / "search-last-page.png"), full_page=True)

        page.click("#page-prev")
        expect(page.locator("#search-total")).to_have_text(f"Events 26–50 of {total}")
        assert first_cells(page) == second_page
        page.click("#page-prev")
        expect(page.locator("#search-total")).to_have_text(f"Events 1–25 of {total}")
        assert first_cells(page) == first_page

        # Sorting by seq, from the column header; then one station's items only.
        page.click("button.sort[data-order=seq]")
        expect(page.locator("th:has(button[data-order=seq])")).to_have_attribute(
            "aria-sort", "descending"
        )
        page.fill("input[name=station]", "hcm1/L1/pack-1")
        page.fill("input[name=serial]", "000007")
        page.click("#search-run")
        expect(page.locator("#search-total")).to_have_text("Events 1–1 of 1")
        assert "serial=000007" in page.url  # the search is in the address, to share
        page.screenshot(path=str(SCREENSHOTS / "search-filtered.png"), full_page=True)

        page.click("#search-results tbody tr a.trace-link")
        page.wait_for_url("**/trace?code=*")
        expect(page.locator("#identity-heading")).to_have_text(f"(01){GTIN}(21)000007")
        # Every station that saw it: its own line, and the other line's read of the same code.
        expect(page.locator("#trace-sightings tbody tr")).to_have_count(2)
        seen = page.locator("#trace-sightings tbody").inner_text()
        assert "hcm1/L1/pack-1" in seen
        assert "hn1/L2/label" in seen
        assert "(UTC+07:00)" in seen
        page.screenshot(path=str(SCREENSHOTS / "trace-item.png"), full_page=True)
    finally:
        context.close()


def test_a_packed_item_trace_steps_forward_on_a_tablet(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    context, page = signed_in(chromium, server, sqlite_url, width=800)
    try:
        expect(page.locator("#search-results tbody tr").first).to_be_visible()
        page.screenshot(path=str(SCREENSHOTS / "search-tablet.png"), full_page=True)
        page.goto(f"{server}/trace?code=(01){GTIN}(21)000001")
        page.click("#step-forward a")  # one step forward: its case
        expect(page.locator("#identity-heading")).to_contain_text("(00)")
        page.click("#step-back li a >> nth=0")  # and back to an item inside it
        expect(page.locator("#identity-heading")).to_contain_text(f"(01){GTIN}(21)")
        width = page.evaluate("document.documentElement.scrollWidth")
        assert width <= 800, f"the trace page scrolls sideways on a tablet ({width} px)"
        page.screenshot(path=str(SCREENSHOTS / "trace-tablet.png"), full_page=True)
    finally:
        context.close()
