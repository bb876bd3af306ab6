"""``linetrace demo``: a small plant on one machine, on embedded defaults, until stopped.

Two lines of one site, each with a labelling station and a packing station (pack events),
filmed by the demo's own cameras (HTTP Motion-JPEG streams of endless synthetic footage:
video after video, with new serials every time and the occasional worn label that cannot
be read). It sets up a broker with an account per station, central on SQLite with the
four stations registered, one production batch started on each line and a dashboard
admin with a generated password, then runs Mosquitto, the cameras, central, one edge box
per line and a local EPCIS 2.0 repository (the project's portal sandbox) that central's
relay delivers every read to. To stay light on a 2-core machine the cameras film at
800x450 and 8 frames a second. Everything it writes goes to one state folder; Ctrl-C
stops it all, edge boxes first.

In: the command line. Out: the running plant, its URLs and login on stdout, logs in the
state folder.
"""

from __future__ import annotations

import argparse
import logging
import signal
import sys
import threading
import time
from pathlib import Path
from types import FrameType

from linetrace.demo.announce import announce, progress
from linetrace.demo.plant import DemoPlan
from linetrace.demo.stack import Stack, prepare_stack
from linetrace.ports import free_port
from linetrace.processes import STOP_GRACE_S, stop_all, wait_for_port

__all__ = ["DemoPlan", "register", "run_demo"]

logger = logging.getLogger(__name__)

# Seconds between progress lines: often enough to watch events arrive, rare enough to read.
PROGRESS_EVERY_S = 5.0
# Central migrates its database before it listens; on a slow machine that takes seconds.
START_TIMEOUT_S = 60.0


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    parser = parts.add_parser(
        "demo",
        help="run a small plant: broker, central, two lines of two cameras each, the relay",
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
    parser.add_argument(
        "--items-per-video", type=int, default=60, help="items in each video before the next"
    )
    parser.add_argument(
        "--items-per-second", type=float, default=1.0, help="line speed of every station"
    )
    parser.add_argument("--fps", type=float, default=8.0, help="frame rate of the cameras")
    parser.add_argument("--api-port", type=int, default=8080, help="port of central's API")
    for name, what in (
        ("broker", "the broker"),
        ("camera", "the demo cameras' HTTP streams"),
        ("sandbox", "the EPCIS sandbox the relay delivers to"),
    ):
        parser.add_argument(
            f"--{name}-port", type=int, default=0, help=f"port of {what} (default: a free one)"
        )
    parser.add_argument("--no-relay", action="store_true", help="run no sandbox and relay nothing")
    parser.set_defaults(handler=run_demo)


def run_demo(args: argparse.Namespace) -> int:
    state = args.state_dir.resolve()
    state.mkdir(parents=True, exist_ok=True)
    plan = DemoPlan(
        state=state,
        broker_port=args.broker_port or free_port(),
        api_port=args.api_port,
        camera_port=args.camera_port or free_port(),
        sandbox_port=None if args.no_relay else args.sandbox_port or free_port(),
        fps=args.fps,
        items_per_second=args.items_per_second,
        items_per_video=args.items_per_video,
    )
    print(f"linetrace demo: state folder {state}", flush=True)
    print("linetrace demo: setting up stations, batches and the admin ...", flush=True)
    stack = prepare_stack(plan)
    stop = threading.Event()
    _stop_on_signals(stop)
    try:
        _start(stack, plan)
        print(announce(plan, stack.login), flush=True)
        _watch(plan, stack, stop, args.duration)
    finally:
        print(
            "linetrace demo: stopping edge boxes, central, cameras, sandbox, broker ...", flush=True
        )
        order = sorted(stack.children, key=lambda name: not name.startswith("edge"))
        stop_all([stack.children[name] for name in order if name != "sandbox"])
        stop_all([stack.children[name] for name in ("sandbox",) if name in stack.children])
        logger.info("broker stopped (exit code %s)", stack.broker.stop(STOP_GRACE_S))
        print("linetrace demo: stopped; logs are in " + str(plan.logs), flush=True)
    return 0


def _start(stack: Stack, plan: DemoPlan) -> None:
    stack.broker.start(START_TIMEOUT_S)
    children = stack.children
    if "sandbox" in children:
        children["sandbox"].start()
        wait_for_port("127.0.0.1", plan.sandbox_port or 0, START_TIMEOUT_S, children["sandbox"])
    children["camera"].start()
    wait_for_port("127.0.0.1", plan.camera_port, START_TIMEOUT_S, children["camera"])
    children["central"].start()
    wait_for_port("127.0.0.1", plan.api_port, START_TIMEOUT_S, children["central"])
    for name, child in children.items():
        if name.startswith("edge"):
            child.start()


def _watch(plan: DemoPlan, stack: Stack, stop: threading.Event, duration: float | None) -> None:
    """Print progress until stopped; a child that dies ends the demo with its log's tail."""
    deadline = None if duration is None else time.monotonic() + duration
    while not stop.wait(
        PROGRESS_EVERY_S
        if deadline is None
        else max(0.0, min(PROGRESS_EVERY_S, deadline - time.monotonic()))
    ):
        if deadline is not None and time.monotonic() >= deadline:
            return
        if not stack.broker.running:
            print(f"linetrace demo: broker exited:\n{stack.broker.tail()}", file=sys.stderr)
            return
        for name, child in stack.children.items():
            if not child.running:
                print(f"linetrace demo: {name} exited:\n{child.tail()}", file=sys.stderr)
                return
        print("linetrace demo: " + progress(plan, stack.monitor_token), flush=True)


def _stop_on_signals(stop: threading.Event) -> None:
    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, handle)
    signal.signal(signal.SIGTERM, handle)
