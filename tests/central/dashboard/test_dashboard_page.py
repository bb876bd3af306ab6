"""The dashboard in a real headless Chromium, against central with its ingest on a real
Mosquitto: the grid, a live event from MQTT, a batch started and closed. How fast a live
event reaches the page is measured by bench/ui.py, not here: a loaded machine slows it."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.derive.products import ProductData, put_product
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login
from tests.central.helpers import (
    GTIN,
    STATION,
    Publisher,
    central_settings,
    events_topic,
    make_event,
    register,
)
from tests.central.serving import serving
from tests.conditions import wait_until

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"
# Only a guard against an ingest or a page that never gets there, however slow the machine.
LIVE_GUARD_MS = 60_000


@pytest.fixture
def plant(mqtt_broker: LocalBroker, sqlite_url: str) -> Iterator[tuple[str, Publisher]]:
    """Central (API + ingest) under uvicorn on the broker, and a station publishing."""
    register(sqlite_url, STATION)
    engine = open_engine(sqlite_url)
    with engine.begin() as connection:
        put_product(connection, GTIN, ProductData(name="Cà phê sữa"))
    engine.dispose()
    service = mqtt_broker.service("central")
    settings = central_settings(
        sqlite_url,
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=service.username,
        password=service.password,
    )
    with serving(create_app(settings, run_ingest=True)) as url:
        # An event published before the ingest's subscription is granted is the broker's
        # to drop (a station resends it; this publisher does not).
        wait_until(lambda: _ingest_ready(url), LIVE_GUARD_MS / 1000, "ingest never subscribed")
        station = mqtt_broker.station(STATION)
        publisher = Publisher(
            mqtt_broker.host, mqtt_broker.port, station.username, station.password
        )
        try:
            yield url, publisher
        finally:
            publisher.__exit__(None, None, None)


def _ingest_ready(url: str) -> bool:
    ingest = httpx.get(url + "/healthz", timeout=5.0).json().get("ingest") or {}
    return bool(ingest.get("subscribed") and ingest.get("writing"))


def shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)


def test_a_published_event_reaches_the_open_dashboard(
    chromium: Any, plant: tuple[str, Publisher], sqlite_url: str
) -> None:
    base, publisher = plant
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        login(page, base, sqlite_url, Role.OPERATOR)
        page.goto(base + "/")
        page.locator('section.line[data-line="hcm1/L1"]').wait_for(timeout=10_000)
        page.locator('#stream-state[data-state="online"]').wait_for(timeout=10_000)
        event = make_event(1, observed_at=datetime.now(UTC))
        publisher.publish(events_topic(), event.to_payload())
        row = page.locator(f'#live-events tr[data-event-id="{event.event_id}"]')
        row.wait_for(timeout=LIVE_GUARD_MS)
        shot(page, "dashboard-live-event")
        tile = page.locator('article.station[data-station="hcm1/L1/pack-1"]')
        assert tile.locator(".badge").count() >= 1
    finally:
        page.close()


def test_an_operator_starts_and_closes_a_batch_from_the_page(
    chromium: Any, plant: tuple[str, Publisher], sqlite_url: str
) -> None:
    base, _ = plant
    page = chromium.new_page(viewport={"width": 800, "height": 1100})  # a tablet
    try:
        login(page, base, sqlite_url, Role.OPERATOR)
        page.goto(base + "/")
        line = page.locator('section.line[data-line="hcm1/L1"]')
        line.locator("button.start-batch").click(timeout=10_000)
        page.fill("#batch-form input[name=gtin]", GTIN)
        page.fill("#batch-form input[name=lot]", "LOT42")
        page.click("#batch-start")
        line.locator("button.close-batch").wait_for(timeout=10_000)
        assert "LOT42" in line.locator(".batch").inner_text()
        shot(page, "dashboard-batch-open")
        page.once("dialog", lambda dialog: dialog.accept())
        line.locator("button.close-batch").click()
        line.locator("button.start-batch").wait_for(timeout=10_000)
        shot(page, "dashboard-batch-closed")
    finally:
        page.close()


def test_an_auditor_sees_the_grid_but_no_batch_buttons(
    chromium: Any, plant: tuple[str, Publisher], sqlite_url: str
) -> None:
    base, _ = plant
    page = chromium.new_page(viewport={"width": 1366, "height": 768})
    try:
        login(page, base, sqlite_url, Role.AUDITOR)
        page.goto(base + "/")
        line = page.locator('section.line[data-line="hcm1/L1"]')
        line.wait_for(timeout=10_000)
        assert line.locator("button.start-batch").count() == 0
        shot(page, "dashboard-auditor")
    finally:
        page.close()
