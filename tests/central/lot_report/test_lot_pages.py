"""The lot report page and the relay monitor in a real headless Chromium, against a real
central server: open a lot's report, download its CSV and JSON-LD, open the relay
monitor and retry. Each test saves a screenshot under build/screenshots/."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.store import open_engine, upgrade
from tests.central.auth_helpers import login
from tests.central.helpers import GTIN, central_settings
from tests.central.serving import serving
from tests.central.trace_helpers import LOT, after, item, open_batch, store
from tests.conditions import wait_until

pytestmark = pytest.mark.chromium

SCREENSHOTS = Path(__file__).resolve().parents[3] / "build" / "screenshots"


@pytest.fixture
def server(sqlite_url: str) -> Iterator[str]:
    """The central app with a stored lot, under uvicorn on a free port, in this process."""
    upgrade(sqlite_url)
    engine = open_engine(sqlite_url)
    try:
        batch = open_batch(engine)
        store(engine, *(item(seq, f"S{seq}", after(batch, seq)) for seq in range(1, 6)))
    finally:
        engine.dispose()
    with serving(create_app(central_settings(sqlite_url))) as url:
        yield url


def _shot(page: Any, name: str) -> None:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / name), full_page=True)


def test_an_auditor_opens_a_lot_report_and_downloads_both_exports(
    chromium: Any, server: str, sqlite_url: str, tmp_path: Path
) -> None:
    page = chromium.new_page(viewport={"width": 1366, "height": 768}, accept_downloads=True)
    try:
        path = f"/lots/{GTIN}/{LOT}"
        login(page, server, sqlite_url, Role.AUDITOR, next_path=path)
        page.goto(server + path)
        page.locator("#lot-counts tbody tr").first.wait_for()
        assert "5" in page.locator("#lot-counts").inner_text()
        assert page.locator("#lot-elements tbody tr").count() == 10
        _shot(page, "lot-report.png")
        with page.expect_download() as csv_download:
            page.click("#download-csv")
        csv_file = tmp_path / "lot.csv"
        csv_download.value.save_as(csv_file)
        rows = list(csv.DictReader(io.StringIO(csv_file.read_text(encoding="utf-8"))))
        assert len(rows) == 5
        with page.expect_download() as jsonld_download:
            page.click("#download-jsonld")
        jsonld_file = tmp_path / "lot.jsonld"
        jsonld_download.value.save_as(jsonld_file)
        document = json.loads(jsonld_file.read_text(encoding="utf-8"))
        assert len(document["epcisBody"]["eventList"]) == 5
    finally:
        page.close()


def test_an_operator_opens_the_relay_monitor_and_retries(
    chromium: Any, server: str, sqlite_url: str
) -> None:
    page = chromium.new_page(viewport={"width": 800, "height": 1100})
    try:
        login(page, server, sqlite_url, Role.OPERATOR, next_path="/relay")
        page.goto(server + "/relay")
        page.locator("#retry-all").wait_for()
        page.click("#retry-all")
        wait_until(
            lambda: page.evaluate("document.getElementById('relay-message').textContent.length > 0")
        )
        _shot(page, "relay-monitor.png")
    finally:
        page.close()
