"""The operators' live page in a real headless Chromium, against a real central server."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from playwright.sync_api import expect

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from linetrace.central.store import event_row, insert_events, open_engine
from tests.central.auth_helpers import login
from tests.central.helpers import central_settings, make_event
from tests.central.serving import serving

pytestmark = pytest.mark.chromium


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """``linetrace central``'s app under uvicorn on a free port, in this process."""
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def seed(url: str, *events: Any) -> None:
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            now = datetime.now(UTC)
            insert_events(
                connection, [event_row(e, json.loads(e.to_payload()), now) for e in events]
            )
    finally:
        engine.dispose()


def test_live_page_lists_events_and_filters_by_code(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    seed(sqlite_url, *(make_event(seq) for seq in range(1, 6)), make_event(6, kind="noread"))
    page = chromium.new_page()
    try:
        login(page, server, sqlite_url, Role.OPERATOR, next_path="/live")
        rows = page.locator("#events tbody tr")
        rows.first.wait_for(timeout=10_000)
        assert rows.count() == 6
        assert "+07:00" in rows.first.locator("td").first.inner_text()
        assert page.locator("#events tbody tr.noread").count() == 1
        page.locator("#health").filter(has_text="ok").wait_for(timeout=10_000)

        page.fill("input[name=code]", "000003")
        page.click("#filters button[type=submit]")
        expect(rows).to_have_count(1, timeout=10_000)
        assert "000003" in rows.first.inner_text()
    finally:
        page.close()


def test_live_page_shows_a_bad_filter_as_an_error(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    page = chromium.new_page()
    try:
        login(page, server, sqlite_url, Role.OPERATOR, next_path="/live")
        page.fill("input[name=station]", "not-a-station")
        page.click("#filters button[type=submit]")
        error = page.locator("#error")
        error.wait_for(state="visible", timeout=10_000)
        assert "Cannot load events" in error.inner_text()
    finally:
        page.close()
