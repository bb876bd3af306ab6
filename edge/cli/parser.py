"""``linetrace edge ...``: the station's verbs.

One ``add_<verb>`` function per verb, listed in :data:`VERBS`; each handler imports the
edge's heavy dependencies (OpenCV, zxing-cpp, biip) itself, so building the parser stays
cheap and works on a machine that has only the contract installed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path

__all__ = ["DRAIN_TIMEOUT_S", "VERBS", "add_check", "add_drain", "add_run", "add_scan", "register"]

# A LAN delivers and central confirms thousands of events a second, so a minute empties
# any outbox a stopped line leaves behind; a longer backlog asks for a longer --timeout.
DRAIN_TIMEOUT_S = 60.0


def register(parts: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add the ``edge`` part and its verbs to the top-level parser."""
    edge = parts.add_parser(
        "edge",
        help="scan with a camera and send scan events",
        description="The edge station: capture, decode, interpret, track, publish.",
    )
    verbs = edge.add_subparsers(dest="verb", required=True, metavar="VERB")
    for add_verb in VERBS:
        add_verb(verbs)


def add_scan(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``edge scan PATH``: decode a file, folder or camera offline and print the passages."""
    scan = verbs.add_parser(
        "scan",
        help="decode a video, image, folder or camera offline and print one line per item",
        description="Decode offline and print one line per item passage (nothing is "
        "published). Exit status: 0 ok, 2 bad arguments or a source that cannot be opened.",
    )
    scan.add_argument(
        "path",
        metavar="PATH",
        help="video file, image file, folder of images, camera index (0), /dev/videoN, "
        "or an rtsp:// or http:// stream URL",
    )
    scan.add_argument(
        "--json", action="store_true", help="one JSON object per passage instead of a table"
    )
    scan.add_argument(
        "--stats", action="store_true", help="print a JSON summary line on stderr at the end"
    )
    scan.add_argument(
        "--backend", choices=("zxing", "zbar"), default="zxing", help="decoder (default: zxing)"
    )
    scan.add_argument(
        "--formats",
        type=_comma_list,
        metavar="F1,F2",
        help="barcode formats to look for, e.g. DataMatrix,QRCode (default: the GS1 carriers)",
    )
    scan.add_argument(
        "--window",
        type=_non_negative_seconds,
        metavar="S",
        help="seconds a code may go unseen and still be one passage (default: the "
        "pipeline's dedup window)",
    )
    scan.add_argument(
        "--utc-offset",
        type=_utc_offset,
        metavar="+HH:MM",
        help="the station's UTC offset for observed_at (default: this machine's zone)",
    )
    scan.add_argument(
        "--start",
        type=_timestamp,
        metavar="TIME",
        help="wall time of a file's first frame, RFC 3339 (default: now)",
    )
    scan.add_argument(
        "--fps",
        type=_positive_rate,
        help="frame rate of a folder of images (default: 1 image per second)",
    )
    scan.add_argument(
        "--realtime",
        action="store_true",
        help="play a file at its own frame rate, as a camera would deliver it",
    )
    scan.add_argument(
        "--workers",
        type=_worker_count,
        metavar="N",
        help="decode worker processes (default: one per core but one; 0 decodes in the "
        "scanning process itself)",
    )
    scan.set_defaults(handler=_run_scan)


def add_run(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``edge run --config F``: the station's agent, until SIGINT/SIGTERM."""
    run = verbs.add_parser(
        "run",
        help="run the station: capture, decode, store and publish scan events",
        description="Run the edge agent until SIGINT or SIGTERM: frames from the source "
        "become scan events (checked against the batch central announces) in the durable "
        "outbox, published to the broker with QoS 1 and kept until central's watermark "
        "confirms them; a retained status message (and, with metrics.port, a Prometheus "
        "endpoint) reports the station's figures. On stop, whatever central has not "
        "confirmed stays in the outbox for the next start. Exit status: 0 stopped cleanly, "
        "1 a failure (or events lost to a full outbox), 2 an invalid config.",
    )
    _add_config_option(run)
    run.add_argument(
        "--from-frame",
        type=_frame_number,
        metavar="N",
        help="start a video file or image folder at frame N (0 is the first), overriding "
        "source.start_frame; live sources ignore it",
    )
    run.set_defaults(handler=_run_agent)


def add_drain(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``edge drain --config F``: deliver what is left in the outbox, then exit."""
    drain = verbs.add_parser(
        "drain",
        help="send what is left in the outbox and exit once central has confirmed it",
        description="Send the events left in the station's outbox (no camera is opened) "
        "and exit once central's watermark covers every one. Run it with the agent "
        "stopped: both log in as the station. Exit status: 0 the outbox is empty, 1 events "
        "are still left after --timeout (the count is printed; they stay in the outbox), "
        "2 an invalid config.",
    )
    _add_config_option(drain)
    drain.add_argument(
        "--timeout",
        type=_positive_seconds,
        metavar="S",
        default=DRAIN_TIMEOUT_S,
        help=f"seconds to wait for central to confirm everything (default: {DRAIN_TIMEOUT_S:g})",
    )
    drain.set_defaults(handler=_run_drain)


def add_check(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """``edge check --config F``: each precondition of ``edge run``, ok or FAILED."""
    check = verbs.add_parser(
        "check",
        help="check the config, source, outbox, broker login, central's state and metrics port",
        description="Check what `edge run` needs, printing each check as ok or FAILED with "
        "the reason: the config is valid, the source opens and gives a frame, the outbox "
        "file opens and is below its alarm level, the broker is reachable and accepts the "
        "credentials, central's retained watermark fits the outbox (and which batch it "
        "announces), and the metrics port (if set) is free. Exit status: 0 all ok, 1 any "
        "failure.",
    )
    _add_config_option(check)
    check.set_defaults(handler=_run_check)


def _add_config_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config",
        type=Path,
        metavar="FILE",
        help="the station's TOML config; every key can be overridden by LINETRACE_EDGE_* "
        "environment variables (e.g. LINETRACE_EDGE_MQTT__PASSWORD); without a file the "
        "environment alone is the config",
    )


def _run_agent(args: argparse.Namespace) -> int:
    from linetrace.edge.agent import serve

    return serve(args.config, from_frame=args.from_frame)


def _run_drain(args: argparse.Namespace) -> int:
    from linetrace.edge.cli.drain import run_drain

    return run_drain(args.config, args.timeout)


def _run_check(args: argparse.Namespace) -> int:
    from linetrace.edge.cli.check import run_checks

    return run_checks(args.config)


VERBS: list[Callable[[argparse._SubParsersAction[argparse.ArgumentParser]], None]] = [
    add_scan,
    add_run,
    add_check,
    add_drain,
]


def _run_scan(args: argparse.Namespace) -> int:
    from linetrace.edge.cli.scan import run_scan

    return run_scan(args)


def _comma_list(text: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("name at least one format")
    return names


def _worker_count(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _frame_number(text: str) -> int:
    return _worker_count(text)  # a whole number, not negative


def _positive_seconds(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


def _non_negative_seconds(text: str) -> float:
    value = _float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is negative")
    return value


def _positive_rate(text: str) -> float:
    value = _float(text)
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive rate")
    return value


def _float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None


def _utc_offset(text: str) -> timezone:
    from linetrace.edge.camera.clock import parse_utc_offset

    try:
        return parse_utc_offset(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _timestamp(text: str) -> datetime:
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an RFC 3339 time") from None
