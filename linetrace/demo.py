"""``linetrace demo``: the whole loop on one machine, on embedded defaults.

It generates a conveyor video, sets up a broker with a station and a central account,
then runs Mosquitto, central (SQLite), one edge agent that plays the video as a live
camera would, and a local EPCIS 2.0 repository (the project's portal sandbox) that
central's relay delivers every read to, as it would to the national portal or a buyer's
repository. Everything it writes goes to one state folder, so a second run reuses the
video and the credentials and a ``rm -r`` of the folder starts afresh.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from types import FrameType

import tomli_w

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from linetrace.processes import STOP_GRACE_S, Child, linetrace_argv, stop_all, wait_for_port

__all__ = ["DemoPlan", "register", "run_demo"]

logger = logging.getLogger(__name__)

STATION = "demo-site/line-1/pack-1"
# Seconds between progress lines: often enough to watch events arrive, rare enough to read.
PROGRESS_EVERY_S = 5.0
# Central migrates its database before it listens; on a slow machine that takes seconds.
START_TIMEOUT_S = 60.0
# The relay target the demo runs: an asynchronous EPCIS repository, the common kind.
SANDBOX_PROFILE = "epcis-async"
RELAY_TARGET = "demo-epcis"


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = parts.add_parser(
        "demo",
        help="run broker, central and one edge agent on a generated conveyor video",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--state-dir",
        type=Path,
        default=Path("linetrace-demo"),
        help="folder for everything the demo writes (default: ./linetrace-demo)",
    )
    parser.add_argument(
        "--duration",
        type=float,
        default=None,
        help="stop by itself after this many seconds (default: run until Ctrl-C)",
    )
    parser.add_argument("--items", type=int, default=300, help="items on the conveyor video")
    parser.add_argument(
        "--items-per-second", type=float, default=2.0, help="line speed of the video"
    )
    parser.add_argument("--seed", type=int, default=7, help="seed of the generated video")
    parser.add_argument("--api-port", type=int, default=8080, help="port of central's API")
    parser.add_argument(
        "--broker-port", type=int, default=0, help="port of the broker (default: a free one)"
    )
    parser.add_argument(
        "--sandbox-port",
        type=int,
        default=0,
        help="port of the EPCIS sandbox the relay delivers to (default: a free one)",
    )
    parser.add_argument("--no-relay", action="store_true", help="run no sandbox and relay nothing")
    parser.set_defaults(handler=run_demo)


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo puts things and which ports it uses."""

    state: Path
    broker_port: int
    api_port: int
    sandbox_port: int | None  # None: no relay

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"


def run_demo(args: argparse.Namespace) -> int:
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    plan = DemoPlan(
        state=state,
        broker_port=args.broker_port or free_port(),
        api_port=args.api_port,
        sandbox_port=None if args.no_relay else args.sandbox_port or free_port(),
    )
    print(f"linetrace demo: state folder {state}", flush=True)
    video = _prepare_video(state, args.items, args.items_per_second, args.seed)
    broker, children = _prepare_stack(plan, video)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        _start(broker, children, plan)
        _announce(plan, video)
        _watch(plan, broker, children, stop, args.duration)
    finally:
        print("linetrace demo: stopping edge, central, sandbox and broker ...", flush=True)
        stop_all([children[name] for name in ("edge", "central", "sandbox") if name in children])
        logger.info("broker stopped (exit code %s)", broker.stop(STOP_GRACE_S))
        print("linetrace demo: stopped; logs are in " + str(state / "logs"), flush=True)
    return 0


def _prepare_video(state: Path, items: int, items_per_second: float, seed: int) -> Path:
    from linetrace.synth.conveyor import ConveyorSpec, write_conveyor

    video = state / f"conveyor-{items}-{seed}.mp4"
    if video.exists() and video.with_suffix(".truth.json").exists():
        return video
    print(f"linetrace demo: generating a {items}-item conveyor video ...", flush=True)
    spec = ConveyorSpec(
        items=items, items_per_second=items_per_second, seed=seed, degradation="low"
    )
    truth = write_conveyor(video, spec)
    readable = sum(item.readable for item in truth.items)
    print(f"linetrace demo: {video.name}: {truth.frames} frames, {readable} readable items")
    return video


def _prepare_stack(plan: DemoPlan, video: Path) -> tuple[LocalBroker, dict[str, Child]]:
    from linetrace.broker.contract.topics import StationId

    logs = plan.state / "logs"
    broker = LocalBroker.create(
        plan.state / "broker", port=plan.broker_port, log_path=logs / "broker.log"
    )
    station = StationId.parse(STATION)
    station_creds = broker.station(station)  # the broker is not running yet: no reload
    central_creds = broker.service("central")
    central_toml = plan.state / "central.toml"
    central_toml.write_text(
        tomli_w.dumps(
            {
                "state_dir": str(plan.state / "central"),
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": plan.broker_port,
                    "username": central_creds.username,
                    "password": central_creds.password,
                },
                "api": {"host": "127.0.0.1", "port": plan.api_port},
                "relay": _relay_settings(plan),
            }
        )
    )
    # Central takes events only from registered stations; this also migrates its database.
    subprocess.run(  # noqa: S603 - our own command line, no shell
        linetrace_argv("central", "station", "add", STATION, "--config", str(central_toml)),
        check=True,
        stdout=subprocess.DEVNULL,
    )
    edge_toml = plan.state / "edge.toml"
    edge_toml.write_text(
        tomli_w.dumps(
            {
                "station": {
                    "site": station.site,
                    "line": station.line,
                    "station": station.station,
                    "role": "packing",
                    "utc_offset": "+07:00",
                },
                "source": {"spec": str(video), "realtime": True},
                "mqtt": {
                    "host": "127.0.0.1",
                    "port": plan.broker_port,
                    "username": station_creds.username,
                    "password": station_creds.password,
                },
                "outbox": {"path": str(plan.state / "edge" / "outbox.sqlite")},
            }
        )
    )
    (plan.state / "edge").mkdir(exist_ok=True)
    children = {
        "central": Child(
            "central",
            linetrace_argv("central", "run", "--config", str(central_toml)),
            logs / "central.log",
        ),
        "edge": Child(
            "edge", linetrace_argv("edge", "run", "--config", str(edge_toml)), logs / "edge.log"
        ),
    }
    if plan.sandbox_port is not None:
        children["sandbox"] = Child("sandbox", _sandbox_argv(plan), logs / "sandbox.log")
    return broker, children


def _relay_settings(plan: DemoPlan) -> dict[str, object]:
    """Central relays every read to the sandbox, as it would to a real EPCIS repository."""
    if plan.sandbox_port is None:
        return {"run": False}
    return {"targets": [{"name": RELAY_TARGET, "kind": "epcis", "url": plan.sandbox_url}]}


def _sandbox_argv(plan: DemoPlan) -> list[str]:
    argv = linetrace_argv(
        "portal", "sandbox", "--profile", SANDBOX_PROFILE, "--port", str(plan.sandbox_port)
    )
    schema = _epcis_schema()
    return [*argv, "--schema", str(schema)] if schema is not None else argv


def _epcis_schema() -> Path | None:
    """GS1's EPCIS 2.0 JSON Schema when this machine has it (it is not shipped with us)."""
    configured = os.environ.get("LINETRACE_EPCIS_SCHEMA")
    if configured:
        return Path(configured)
    beside = Path.cwd().parent / "shared" / "epcis" / "schema" / "EPCIS-JSON-Schema.json"
    return beside if beside.is_file() else None


def _start(broker: LocalBroker, children: dict[str, Child], plan: DemoPlan) -> None:
    broker.start(START_TIMEOUT_S)
    if plan.sandbox_port is not None:
        children["sandbox"].start()
        wait_for_port("127.0.0.1", plan.sandbox_port, START_TIMEOUT_S, children["sandbox"])
    children["central"].start()
    wait_for_port("127.0.0.1", plan.api_port, START_TIMEOUT_S, children["central"])
    children["edge"].start()


def _announce(plan: DemoPlan, video: Path) -> None:
    print(
        "\nlinetrace demo is running (Ctrl-C stops it):\n"
        f"  live page  {plan.api_url}/\n"
        f"  events     {plan.api_url}/api/events\n"
        f"  health     {plan.api_url}/healthz\n"
        f"  API docs   {plan.api_url}/docs\n"
        f"  relay      {plan.api_url}/api/relay\n"
        f"  broker     mqtt://127.0.0.1:{plan.broker_port} (credentials in "
        f"{plan.state / 'broker' / 'credentials'})\n"
        f"  camera     {video}\n" + _sandbox_lines(plan),
        flush=True,
    )


def _sandbox_lines(plan: DemoPlan) -> str:
    if plan.sandbox_port is None:
        return "  relay      off (--no-relay)\n"
    checks = (
        "validating against GS1's EPCIS 2.0 schema"
        if _epcis_schema()
        else "checking the envelope only: set LINETRACE_EPCIS_SCHEMA to GS1's schema"
    )
    return (
        f"  EPCIS      {plan.sandbox_url}/events  (the sandbox the relay delivers to, {checks})\n"
    )


def _watch(
    plan: DemoPlan,
    broker: LocalBroker,
    children: dict[str, Child],
    stop: threading.Event,
    duration: float | None,
) -> None:
    deadline = None if duration is None else time.monotonic() + duration
    edge_done_reported = False
    while not stop.wait(
        PROGRESS_EVERY_S
        if deadline is None
        else max(0.0, min(PROGRESS_EVERY_S, deadline - time.monotonic()))
    ):
        if deadline is not None and time.monotonic() >= deadline:
            return
        if not broker.running:
            print(f"linetrace demo: broker exited:\n{broker.tail()}", file=sys.stderr)
            return
        for name in ("central", "sandbox"):
            if name in children and not children[name].running:
                print(f"linetrace demo: {name} exited:\n{children[name].tail()}", file=sys.stderr)
                return
        if not children["edge"].running and not edge_done_reported:
            print("linetrace demo: the edge agent has finished the video", flush=True)
            edge_done_reported = True
        print("linetrace demo: " + _progress(plan), flush=True)


def _progress(plan: DemoPlan) -> str:
    try:
        # The demo's own central on 127.0.0.1, an http:// URL it built itself.
        with urllib.request.urlopen(plan.api_url + "/healthz", timeout=2) as response:  # noqa: S310
            report = json.load(response)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        return f"central not answering ({exc})"
    ingest = report.get("ingest") or {}
    line = (
        f"central {report.get('status')}: {ingest.get('stored', 0)} events stored, "
        f"{ingest.get('duplicates', 0)} resends skipped, "
        f"{ingest.get('dead_lettered', 0)} dead-lettered"
    )
    return line + _relay_progress(plan)


def _relay_progress(plan: DemoPlan) -> str:
    if plan.sandbox_port is None:
        return ""
    try:
        with urllib.request.urlopen(plan.api_url + "/api/relay", timeout=2) as response:  # noqa: S310
            report = json.load(response)
    except (urllib.error.URLError, OSError, ValueError):
        return "; relay status not answering"
    targets = {entry.get("target"): entry for entry in report.get("targets", [])}
    counts = (targets.get(RELAY_TARGET) or {}).get("counts", {})
    return (
        f"; relayed to EPCIS: {counts.get('accepted', 0)} accepted, "
        f"{counts.get('queued', 0) + counts.get('sent', 0)} on the way, "
        f"{counts.get('rejected', 0)} rejected"
    )


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
