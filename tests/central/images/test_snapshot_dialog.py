"""A person opens a no-read's picture from the live page, in real headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login
from tests.central.helpers import STATION, central_settings, events_topic, make_event, register
from tests.central.images.helpers import jpeg, noread
from tests.central.serving import serving
from tests.conditions import wait_until

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """The app under uvicorn on a free port, in this process."""
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def test_a_no_read_picture_opens_beside_its_facts(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    register(sqlite_url, STATION)
    picture = jpeg(size=(240, 120))
    engine = open_engine(sqlite_url)
    try:
        messages = [make_event(1), noread(2, picture)]
        write_batch(
            engine, [Inbound(events_topic(), m.to_payload(), datetime.now(UTC)) for m in messages]
        )
    finally:
        engine.dispose()
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        login(page, server, sqlite_url, Role.OPERATOR, next_path="/live")
        button = page.locator("#events tbody tr.noread button.snapshot-open")
        button.wait_for(timeout=10_000)
        assert page.locator("#events button.snapshot-open").count() == 1  # only the no-read
        button.click()
        dialog = page.locator("dialog#snapshot-dialog[open]")
        dialog.wait_for(timeout=10_000)
        image = dialog.locator("img")
        image.wait_for(timeout=10_000)
        wait_until(
            lambda: page.evaluate(
                "document.querySelector('#snapshot-dialog img').naturalWidth === 240"
            )
        )
        facts = dialog.locator(".snapshot-facts")
        facts.filter(has_text="hcm1/L1/pack-1").wait_for(timeout=10_000)
        assert "+07:00" in facts.inner_text()
        assert "3" in facts.inner_text()  # the frames in the reason
        assert dialog.get_attribute("aria-labelledby") == "snapshot-title"
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(SCREENSHOTS / "noread-picture.png"))
        page.keyboard.press("Escape")
        page.locator("dialog#snapshot-dialog:not([open])").wait_for(
            state="attached", timeout=10_000
        )
        wait_until(
            lambda: page.evaluate(
                "document.activeElement && document.activeElement.matches('button.snapshot-open')"
            )
        )
    finally:
        page.close()
