"""The search and trace pages as served: who may open them, the trace's parts, refusals."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, central_settings
from tests.central.search.plant import CASE, PALLET, packed_plant


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    engine = open_engine(database_url)
    try:
        packed_plant(engine)
    finally:
        engine.dispose()
    with TestClient(create_app(central_settings(database_url)), base_url="http://localhost") as c:
        c.headers.update(login_headers(database_url, Role.AUDITOR))
        c.cookies.set("linetrace_lang", "en")
        yield c


def test_the_search_page_is_the_form_and_its_script(client: TestClient) -> None:
    page = client.get("/search")
    assert page.status_code == 200
    assert 'src="/static/search.js"' in page.text
    for name in ("from", "to", "site", "line", "station", "gtin", "lot", "serial", "sscc"):
        assert f'name="{name}"' in page.text
    assert "<script>" not in page.text  # nothing inline (the CSP would refuse it)


def test_an_item_trace_shows_lot_stations_and_one_step_each_way(client: TestClient) -> None:
    page = client.get("/trace", params={"code": f"(01){GTIN}(21)000001"})
    assert page.status_code == 200, page.text
    html = page.text
    assert f'href="/lots/{GTIN}/L2611"' in html  # one step back: its lot
    assert f'href="/trace?code={quote(f"(00){CASE}", safe="")}"' in html  # forward: its case
    assert f"(00){PALLET}" in html  # containers up, to the pallet
    assert "(UTC+07:00)" in html  # times in the site's zone, with the offset
    assert "hcm1/L1/pack-1" in html


def test_a_case_trace_steps_back_to_its_items(client: TestClient) -> None:
    html = client.get("/trace", params={"code": CASE}).text  # a bare SSCC
    assert f"(01){GTIN}(21)000002" in html
    assert f'href="/trace?code={quote(f"(00){PALLET}", safe="")}"' in html


def test_a_digital_link_is_traced_too(client: TestClient) -> None:
    page = client.get("/trace", params={"code": f"https://id.gs1.org/01/{GTIN}/21/000003"})
    assert page.status_code == 200
    assert f"(01){GTIN}(21)000003" in page.text


def test_unknown_and_malformed_codes_are_said_so(client: TestClient) -> None:
    unknown = client.get("/trace", params={"code": f"(01){GTIN}(21)999999"})
    assert unknown.status_code == 404
    assert "Nothing stored names this code." in unknown.text
    malformed = client.get("/trace", params={"code": "(01)08938500000011(21)1"})
    assert malformed.status_code == 422
    assert "This is not a valid code" in malformed.text
    assert client.get("/trace").status_code == 200  # the form alone


def test_a_scope_elsewhere_does_not_see_the_trace(database_url: str, client: TestClient) -> None:
    headers = login_headers(database_url, Role.OPERATOR, scopes=("hn1",))
    page = client.get("/trace", params={"code": f"(01){GTIN}(21)000001"}, headers=headers)
    assert page.status_code == 404


def test_pages_need_a_sign_in(database_url: str) -> None:
    with TestClient(create_app(central_settings(database_url)), base_url="http://localhost") as c:
        for path in ("/search", "/trace"):
            response = c.get(path, follow_redirects=False)
            assert response.status_code == 303
            assert response.headers["location"].startswith("/login?next=")
