"""The alarms page in a real headless Chromium: an operator acknowledges an alarm with a
comment, an admin sees the thresholds editor."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.derive.alarm_rules import load_rules
from linetrace.central.store import open_engine
from linetrace.central.web.i18n import LANGUAGE_COOKIE
from tests.central.alarms.test_sweeps import Line, sweep
from tests.central.auth_helpers import login
from tests.central.helpers import STATION, central_settings
from tests.central.serving import serving

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """``linetrace central``'s app under uvicorn on a free port, in this process."""
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def signed_in(chromium: Any, base_url: str, url: str, role: Role) -> tuple[Any, Any, str]:
    """A 1366x768 browser in English, logged in as a new account with ``role`` on /alarms."""
    context = chromium.new_context(viewport={"width": 1366, "height": 768}, locale="en-GB")
    context.add_cookies([{"name": LANGUAGE_COOKIE, "value": "en", "url": base_url}])
    page = context.new_page()
    name = login(page, base_url, url, role, next_path="/alarms")
    return context, page, name


def low_read_rate(url: str) -> None:
    """A station reading 75 %: its read_rate and noreads alarms raised by the sweep."""
    engine = open_engine(url)
    try:
        now = datetime.now(UTC)
        Line(engine).passes(15, 5, now)
        assert {kind for _s, kind, _k in sweep(engine, now)} == {"read_rate", "noreads"}
    finally:
        engine.dispose()


def test_an_operator_acknowledges_an_alarm_with_a_comment(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    low_read_rate(sqlite_url)
    context, page, name = signed_in(chromium, server, sqlite_url, Role.OPERATOR)
    rows = page.locator("#open-alarms tbody tr")
    expect(rows).to_have_count(2)
    rate = rows.filter(has_text="Read rate")
    expect(rate).to_contain_text(STATION)
    expect(rate).to_contain_text("75")
    expect(page.locator("#rules")).to_have_count(0)  # thresholds are for admins
    rate.get_by_role("button", name="Acknowledge").click()
    dialog = page.locator("#ack-dialog")
    expect(dialog).to_be_visible()
    dialog.locator("textarea").fill("Lens cleaned; watching the rate")
    dialog.get_by_role("button", name="Acknowledge").click()
    expect(dialog).to_be_hidden()
    expect(rate).to_contain_text("Lens cleaned; watching the rate")
    expect(rate).to_contain_text(name)
    expect(rate.get_by_role("button", name="Acknowledge")).to_have_count(0)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alarms-acknowledged.png"), full_page=True)
    context.close()


def test_an_admin_sets_a_station_threshold_on_the_page(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    low_read_rate(sqlite_url)
    context, page, _name = signed_in(chromium, server, sqlite_url, Role.ADMIN)
    form = page.locator("#rules-form")
    expect(form.locator("select[name=scope] option")).to_have_count(2)
    form.locator("select[name=scope]").select_option(STATION)
    form.locator("input[name=read_rate_min_pct]").fill("70")
    form.locator("input[name=offline_after_s__off]").check()
    form.get_by_role("button", name="Save thresholds").click()
    expect(page.locator("#rules-saved")).to_have_text("Saved.")
    form.locator("input[name=window_s]").fill("5")  # below the 30 s minimum
    form.get_by_role("button", name="Save thresholds").click()
    expect(page.locator("#page-error")).to_contain_text("window_s")
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "alarms-thresholds.png"), full_page=True)
    context.close()
    engine = open_engine(sqlite_url)
    try:
        with engine.connect() as connection:
            rule = load_rules(connection).for_station(STATION)
    finally:
        engine.dispose()
    assert (rule.read_rate_min_pct, rule.offline_after_s) == (70, None)
