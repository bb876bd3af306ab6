"""Screenshots of the pages for the README, taken from a running demo plant.

Run: ``.venv/bin/python scripts/screenshots.py [--seconds 120]``. It starts
``linetrace demo`` in a throwaway folder, lets the plant run, signs in with the demo's
admin in headless Chromium (Debian's ``chromium``; ``LINETRACE_CHROMIUM`` to point
elsewhere) and saves the dashboard, a trace and a lot report at 1366x768 into
``docs/screenshots/``. What the pictures show is whatever the plant produced in that run.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
CHROMIUM = os.environ.get("LINETRACE_CHROMIUM", "/usr/bin/chromium")
LOGIN = re.compile(r"login\s+user (\S+)\s+password (\S+)")
URL = re.compile(r"dashboard\s+(http://\S+)/")


def _wait_for_login(process: subprocess.Popen[str], limit_s: float) -> tuple[str, str, str]:
    """The dashboard URL, user and password the demo prints once it is up."""
    deadline = time.monotonic() + limit_s
    seen = ""
    if process.stdout is None:
        raise SystemExit("the demo's output is not piped")
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line:
            raise SystemExit(f"the demo stopped:\n{seen}")
        seen += line
        url, login = URL.search(seen), LOGIN.search(seen)
        if url and login:
            return url.group(1), login.group(1), login.group(2)
    raise SystemExit(f"the demo did not print its login in {limit_s:.0f} s:\n{seen}")


def _api(base: str, path: str, token: str) -> Any:
    request = urllib.request.Request(  # noqa: S310 - http to our own demo
        base + path, headers={"Authorization": f"Bearer {token}"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:  # noqa: S310 - our own demo
        return json.load(response)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=120.0, help="plant run before shots")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="linetrace-shots-") as folder:
        demo = subprocess.Popen(  # noqa: S603 - our own command
            [sys.executable, "-m", "linetrace", "demo", "--state-dir", folder],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        try:
            base, user, password = _wait_for_login(demo, 300)
            time.sleep(args.seconds)  # the plant fills the pictures; not a test
            token = (Path(folder) / "monitor-token").read_text().strip()
            reads = _api(base, "/api/events?kind=read&limit=1", token)["events"]
            event = reads[0]
            gs1 = event.get("gs1") or {}
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(executable_path=CHROMIUM)
                page = browser.new_page(viewport={"width": 1366, "height": 768}, locale="vi-VN")
                page.goto(base + "/login?next=/")
                page.fill("input[name=username]", user)
                page.fill("input[name=password]", password)
                page.click("button[type=submit]")
                page.wait_for_url(lambda url: "/login" not in url)
                page.locator("section.line").first.wait_for()
                page.wait_for_timeout(3000)  # a few live events on the list
                page.screenshot(path=str(OUT / "dashboard.png"))
                code = f"(01){gs1['01']}(21){gs1['21']}"
                page.goto(f"{base}/trace?code={urllib.request.quote(code)}")
                page.screenshot(path=str(OUT / "trace.png"))
                page.goto(f"{base}/lots/{gs1['01']}/{gs1['10']}")
                page.screenshot(path=str(OUT / "lot-report.png"), full_page=True)
                browser.close()
        finally:
            demo.send_signal(signal.SIGINT)
            demo.wait(60)
    print(f"screenshots in {OUT.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
