"""Dashboard benchmark: first paint and live-event latency with many stations publishing.

Run: ``python bench/ui.py [--stations 50] [--rate-per-station 20] [--duration 60]``.
It starts a real Mosquitto with an account per station, central as the real service
(``linetrace central run`` on SQLite, ingest running, stations registered as they come),
and headless Chromium (Playwright driving Debian's chromium, ``LINETRACE_CHROMIUM``
to point elsewhere) signed in with an admin bearer token. It prints:

- the dashboard's first paint (Performance API ``first-contentful-paint`` of ``GET /``),
  on the idle system (the baseline) and again while the stations publish;
- the live-event latency: from the moment a simulated station writes an event to the
  broker to the first animation frame after the page received it on its live stream
  (``/api/stream``, the one the dashboard listens to), p50/p95/max, first at a light
  load (one event per station every second: the baseline), then at ``--stations`` x
  ``--rate-per-station`` events/s for ``--duration`` seconds.

The clock on both ends is this machine's wall clock (``time.time()`` in the
publishers, ``performance.timeOrigin + performance.now()`` in the page). A client too
slow to keep up is sent ``dropped`` messages rather than slowing ingest; their count is
printed too. Figures only: there is no pass or fail.
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from harness.broker import running_broker
from harness.central_service import CentralService
from harness.figures import load_average, percentile
from harness.publishers import Published, run_publishers
from linetrace.central.auth.roles import Role
from linetrace.central.auth.tokens import create_token
from linetrace.central.store import open_engine

CHROMIUM = os.environ.get("LINETRACE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-dev-shm-usage"]
# Listens on the page's own origin and session, as the dashboard's script does; each
# arrival is noted at the next animation frame, when what it changed can be painted.
LISTEN_JS = """() => {
  window.__arrivals = []; window.__dropped = 0;
  const stream = new EventSource('/api/stream');
  stream.addEventListener('scan', (message) => {
    const event = JSON.parse(message.data);
    const station = [event.site, event.line, event.station].filter(Boolean).join('/');
    requestAnimationFrame(() => window.__arrivals.push(
      [station, event.seq, performance.timeOrigin + performance.now()]));
  });
  stream.addEventListener('dropped', (message) => {
    window.__dropped += JSON.parse(message.data).count || 1;
  });
  window.__stream = stream;
}"""
FCP_JS = "() => performance.getEntriesByName('first-contentful-paint').length > 0"
FCP_VALUE_JS = "() => performance.getEntriesByName('first-contentful-paint')[0].startTime"
LATENCY_SETTLE_S = 5.0  # after the last event, for the page to receive the rest


def main() -> None:
    args = _arguments()
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory(prefix="linetrace-bench-ui-") as tmp:
        folder = Path(tmp)
        database = f"sqlite:///{folder / 'central.db'}"
        with (
            running_broker(folder, args.stations) as broker,
            CentralService(folder / "central", broker, database) as central,
        ):
            central.wait_ready()
            token = _token(database)
            print(
                f"bench/ui: {args.stations} stations, central on SQLite, "
                f"load average {load_average()}",
                flush=True,
            )
            with sync_playwright() as playwright:
                browser = playwright.chromium.launch(
                    executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
                )
                context = browser.new_context(
                    viewport={"width": 1366, "height": 768},
                    extra_http_headers={"Authorization": f"Bearer {token}"},
                )
                _run(context, central.api, broker, args)
                browser.close()


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--stations", type=int, default=50)
    parser.add_argument("--rate-per-station", type=float, default=20.0, help="events/s each")
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of full load")
    parser.add_argument("--baseline", type=float, default=15.0, help="seconds of light load")
    parser.add_argument("--publishers", type=int, default=1, help="publisher processes")
    parser.add_argument("--generator", default="raw", choices=["raw", "paho"])
    return parser.parse_args()


def _token(database_url: str) -> str:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            return create_token(
                connection, "bench-ui", role=Role.ADMIN, created_by="bench", expires_days=1
            )
    finally:
        engine.dispose()


def _first_paint(context: Any, api: str) -> tuple[Any, float]:
    page = context.new_page()
    page.goto(api + "/", wait_until="load")
    page.wait_for_function(FCP_JS, timeout=60_000)
    return page, float(page.evaluate(FCP_VALUE_JS))


def _run(context: Any, api: str, broker: Any, args: argparse.Namespace) -> None:
    page, idle_fcp = _first_paint(context, api)
    print(f"first paint, idle system:        {idle_fcp:8.0f} ms  (baseline)", flush=True)
    page.evaluate(LISTEN_JS)
    light_count = max(1, round(args.baseline))
    light = _publish(broker, args, first_seq=1, count=light_count, rate=args.stations * 1.0)
    _report(page, "light load (1 event/s/station)", light, " (baseline)")
    page.evaluate("() => { window.__arrivals = []; window.__dropped = 0; }")

    count = max(1, round(args.duration * args.rate_per_station))
    rate = args.stations * args.rate_per_station
    result: list[Published] = []
    load = threading.Thread(
        target=lambda: result.append(
            _publish(broker, args, first_seq=light_count + 1, count=count, rate=rate)
        ),
        daemon=True,
    )
    load.start()
    time.sleep(min(10.0, args.duration / 3))  # let the load reach its pace first
    loaded_page, loaded_fcp = _first_paint(context, api)
    ratio = loaded_fcp / idle_fcp if idle_fcp else float("nan")
    print(
        f"first paint, {rate:,.0f} events/s:   {loaded_fcp:8.0f} ms  ({ratio:.2f}x the idle)",
        flush=True,
    )
    loaded_page.close()
    load.join()
    if not result:
        raise RuntimeError("the publishers did not finish")
    _report(page, f"{rate:,.0f} events/s for {args.duration:g} s", result[0], "")


def _publish(
    broker: Any, args: argparse.Namespace, *, first_seq: int, count: int, rate: float
) -> Published:
    _, published = run_publishers(
        broker, first_seq=first_seq, count=count, rate=rate, window=None, args=args
    )
    return published


def _report(page: Any, label: str, published: Published, note: str) -> None:
    deadline = time.monotonic() + LATENCY_SETTLE_S
    sent = {(station, seq): at for station, seq, at in published.sent_at}
    arrivals: list[list[Any]] = []
    while time.monotonic() < deadline:
        arrivals = page.evaluate("() => window.__arrivals")
        if len(arrivals) >= len(sent):
            break
        time.sleep(0.5)
    latencies = [
        shown / 1000.0 - sent[(station, seq)]
        for station, seq, shown in arrivals
        if (station, seq) in sent
    ]
    dropped = page.evaluate("() => window.__dropped")
    if not latencies:
        sample = arrivals[:2]
        print(f"live latency, {label}: no event reached the page{note} ({sample})", flush=True)
        return
    ms = [1000.0 * value for value in latencies]
    print(
        f"live latency, {label}: p50 {percentile(ms, 0.5):.0f} ms, "
        f"p95 {percentile(ms, 0.95):.0f} ms, max {max(ms):.0f} ms over {len(ms):,} of "
        f"{len(sent):,} events shown, {dropped} dropped for the page{note}",
        flush=True,
    )


if __name__ == "__main__":
    main()
