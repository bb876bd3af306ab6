"""The live page under its Content-Security-Policy, and pages of other sites against the
API, in a real headless Chromium and a real central server (item 7)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from linetrace.central.api.app import create_app
from linetrace.central.auth import Role
from linetrace.central.store import open_engine
from linetrace.central.store.trace_tables import batches
from linetrace.ports import free_port
from tests.central.api.test_web import seed
from tests.central.auth_helpers import login
from tests.central.helpers import GTIN, central_settings, make_event
from tests.central.serving import serving
from tests.central.trace_helpers import add_product, open_batch
from tests.conditions import wait_until
from tests.conftest import CHROMIUM, CHROMIUM_ARGS

pytestmark = pytest.mark.chromium

# Records every CSP violation the page reports, before any of its own scripts run.
RECORD_VIOLATIONS = """
window.cspViolations = [];
document.addEventListener("securitypolicyviolation", (e) => {
  window.cspViolations.push(`${e.violatedDirective} ${e.blockedURI}`);
});
"""
EVIL = "evil.example"


@pytest.fixture
def central(sqlite_url: str) -> Iterator[tuple[str, int]]:
    """Central's app under uvicorn on 127.0.0.1 and a free port: (base URL, port)."""
    port = free_port()
    with serving(create_app(central_settings(sqlite_url)), port) as url:
        yield url, port


@pytest.fixture
def other_site() -> Iterator[Any]:
    """Another origin (127.0.0.1 on another port) serving whatever page a test sets."""
    page = {"html": b""}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/html")
            self.end_headers()
            self.wfile.write(page["html"])

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield page, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def batch_closed(url: str, batch_id: int) -> bool:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            closed = connection.execute(
                sa.select(batches.c.closed_at).where(batches.c.id == batch_id)
            ).scalar_one()
    finally:
        engine.dispose()
    return closed is not None


def batch_count(url: str) -> int:
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return int(
                connection.execute(sa.select(sa.func.count()).select_from(batches)).scalar_one()
            )
    finally:
        engine.dispose()


def test_the_live_page_works_under_its_policy(
    chromium: Any, central: tuple[str, int], sqlite_url: str
) -> None:
    seed(sqlite_url, *(make_event(seq) for seq in range(1, 4)))
    page = chromium.new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(message.text))
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        login(page, central[0], sqlite_url, Role.OPERATOR, next_path="/live")
        response = page.goto(central[0] + "/live")
        assert response is not None
        assert "frame-ancestors 'none'" in response.headers["content-security-policy"]
        rows = page.locator("#events tbody tr")
        rows.first.wait_for(timeout=10_000)
        page.locator("#health").filter(has_text="ok").wait_for(timeout=10_000)
        page.fill("input[name=code]", "000002")
        page.click("#filters button[type=submit]")
        expect(rows).to_have_count(1, timeout=10_000)
        assert page.evaluate("window.cspViolations") == []
        assert not [text for text in console if "Content Security Policy" in text]

        # The policy is in force: a script injected into the page does not run.
        page.evaluate(
            "() => { const s = document.createElement('script');"
            " s.textContent = 'window.injected = true'; document.body.append(s); }"
        )
        wait_until(lambda: page.evaluate("window.cspViolations.length > 0"))
        assert page.evaluate("window.injected") is None
        assert page.evaluate("window.cspViolations")[0].startswith("script-src")
    finally:
        page.close()


def test_another_site_cannot_frame_the_page(
    chromium: Any, central: tuple[str, int], other_site: Any
) -> None:
    html, origin = other_site
    html["html"] = f'<iframe id="f" src="{central[0]}/"></iframe>'.encode()
    page = chromium.new_page()
    try:
        page.goto(origin + "/live")
        wait_until(lambda: len(page.frames) == 2 and page.frames[1].url != "about:blank", 10)
        frame = page.frames[1]
        frame.wait_for_load_state()
        assert frame.locator("#events").count() == 0  # the page never rendered inside
    finally:
        page.close()


def test_a_rebound_host_name_cannot_drive_the_api(
    chromium: Any, central: tuple[str, int], sqlite_url: str
) -> None:
    """DNS rebinding: once evil.example resolves to central's address, the attacker's page
    (loaded from evil.example:PORT) makes same-origin requests in the browser's eyes, and
    they reach central with ``Host: evil.example:PORT``."""
    engine = open_engine(sqlite_url)
    try:
        add_product(engine)
    finally:
        engine.dispose()
    browser = chromium.browser_type.launch(
        executable_path=CHROMIUM,
        headless=True,
        args=[*CHROMIUM_ARGS, f"--host-resolver-rules=MAP {EVIL} 127.0.0.1"],
    )
    try:
        page = browser.new_page()
        # The page the attacker's origin now gets from central: refused.
        response = page.goto(f"http://{EVIL}:{central[1]}/live")
        assert response.status == 400
        assert page.locator("#events").count() == 0
        statuses = page.evaluate(
            """async (gtin) => {
              const read = await fetch("/api/events");
              const start = await fetch("/api/batches", {
                method: "POST",
                headers: {"content-type": "application/json"},
                body: JSON.stringify({line: "hcm1/L9", gtin, lot: "EVIL1"}),
              });
              return [read.status, start.status];
            }""",
            GTIN,
        )
        assert statuses == [400, 400]
        assert batch_count(sqlite_url) == 0
    finally:
        browser.close()


def test_another_sites_page_cannot_close_a_batch(
    chromium: Any, central: tuple[str, int], other_site: Any, sqlite_url: str
) -> None:
    engine = open_engine(sqlite_url)
    try:
        first, second = open_batch(engine, line="hcm1/L1"), open_batch(engine, line="hcm1/L2")
    finally:
        engine.dispose()
    html, origin = other_site
    html["html"] = b"<p>a page of another site</p>"
    page = chromium.new_page()
    try:
        page.goto(origin + "/live")
        # A "simple" request needs no CORS preflight: the browser sends it as it is.
        page.evaluate(
            # (Its answer is then withheld by Cross-Origin-Resource-Policy: the fetch fails.)
            "async (url) => { try { await fetch(url, {method: 'POST', mode: 'no-cors'}); }"
            " catch (e) {} }",
            f"{central[0]}/api/batches/{first.id}/close",
        )
        # The same request from central's own page, signed in, does close a batch: only
        # the origin differs (and the session's CSRF token, which another site cannot read).
        login(page, central[0], sqlite_url, Role.OPERATOR, next_path="/live")
        status = page.evaluate(
            """async (url) => (await fetch(url, {method: 'POST', headers: {'X-CSRF-Token':
                document.querySelector('meta[name="csrf-token"]').content}})).status""",
            f"{central[0]}/api/batches/{second.id}/close",
        )
        assert status == 200
        assert batch_closed(sqlite_url, second.id)
        assert not batch_closed(sqlite_url, first.id)
    finally:
        page.close()


def test_the_api_docs_page_works_with_no_way_out(
    chromium: Any, central: tuple[str, int], sqlite_url: str
) -> None:
    """/docs renders the operations from central's own files: any request that would leave
    the host is refused, as on a plant network, and none is even attempted."""
    page = chromium.new_page()
    leaving: list[str] = []

    def refuse_outside(route: Any) -> None:
        if route.request.url.startswith(central[0]):
            route.continue_()
        else:
            leaving.append(route.request.url)
            route.abort()

    page.route("**/*", refuse_outside)
    page.add_init_script(RECORD_VIOLATIONS)
    try:
        login(page, central[0], sqlite_url, Role.AUDITOR, next_path="/docs")
        response = page.goto(central[0] + "/docs")
        assert response is not None
        assert response.status == 200
        page.locator(".opblock-summary-path", has_text="/api/events").first.wait_for(timeout=20_000)
        assert leaving == []
        assert page.evaluate("window.cspViolations") == []
    finally:
        page.close()
