"""The page framework: the language a person gets, the switch, and no open redirect."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.config import CentralSettings, SiteSettings, WebSettings
from linetrace.central.web.pages import safe_next
from tests.central.auth_helpers import login_headers
from tests.central.helpers import central_settings


def _client(database_url: str, **overrides: object) -> TestClient:
    settings = central_settings(database_url)
    if overrides:
        settings = CentralSettings.model_validate(settings.model_dump() | overrides)
    client = TestClient(create_app(settings), base_url="http://localhost")
    client.headers.update(login_headers(database_url, Role.AUDITOR))
    return client


def _title(html: str) -> str:
    match = re.search(r"<title>(.*?)</title>", html)
    assert match is not None
    return match.group(1)


def test_a_vietnamese_site_gets_vietnamese_and_the_switch_changes_it(sqlite_url: str) -> None:
    with _client(sqlite_url, sites={"hcm1": {"time_zone": "Asia/Ho_Chi_Minh"}}) as client:
        page = client.get("/live", headers={"Accept-Language": "en-US"})
        assert page.status_code == 200
        assert _title(page.text).startswith("Sự kiện trực tiếp")
        assert 'lang="vi"' in page.text

        switched = client.get("/language/en?next=/live", follow_redirects=False)
        assert switched.status_code == 303
        assert switched.headers["location"] == "/live"
        assert "linetrace_lang=en" in switched.headers["set-cookie"]
        assert _title(client.get("/live").text).startswith("Live events")


def test_without_sites_the_browser_language_then_vietnamese(sqlite_url: str) -> None:
    with _client(sqlite_url) as client:
        assert _title(client.get("/live", headers={"Accept-Language": "en"}).text).startswith(
            "Live events"
        )
        assert _title(client.get("/live", headers={"Accept-Language": "fr"}).text).startswith(
            "Sự kiện trực tiếp"
        )


def test_the_page_data_block_carries_time_zones_and_cannot_break_out(sqlite_url: str) -> None:
    sites = {"hcm1": {"name": "Nhà máy </script><b>", "time_zone": "Asia/Bangkok"}}
    with _client(sqlite_url, sites=sites) as client:
        html = client.get("/live").text
    block = html.split('id="page-data">', 1)[1].split("</script>", 1)[0]
    assert '"time_zone": "Asia/Bangkok"' in block
    assert "<\\/script>" in block


@pytest.mark.parametrize(
    ("target", "expected"),
    [
        ("/search?lot=A", "/search?lot=A"),
        ("//evil.example/x", "/"),
        ("https://evil.example/", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_the_switch_goes_back_only_to_this_site(target: str | None, expected: str) -> None:
    assert safe_next(target) == expected


def test_an_unknown_language_is_refused(sqlite_url: str) -> None:
    with _client(sqlite_url) as client:
        assert client.get("/language/fr", follow_redirects=False).status_code == 422


def test_server_side_times_and_numbers_follow_the_site_and_the_language() -> None:
    from datetime import UTC, datetime

    from linetrace.central.web.formats import format_number, format_time

    settings = CentralSettings(sites={"bkk": SiteSettings(time_zone="Asia/Bangkok")})
    moment = datetime(2026, 12, 5, 7, 3, 7, tzinfo=UTC)
    assert (
        format_time(moment, settings=settings, language="vi") == "05/12/2026 14:03:07 (UTC+07:00)"
    )
    tokyo = CentralSettings(web=WebSettings(default_time_zone="Asia/Tokyo"))
    assert format_time(moment, settings=tokyo, language="en").endswith("16:03:07 (UTC+09:00)")
    assert format_number(1234567.5, language="vi") == "1.234.567,5"
    assert format_number(1234567.5, language="en") == "1,234,567.5"
