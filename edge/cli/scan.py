"""``linetrace edge scan``: run the station's scanner over a file, folder or camera, offline.

The scan uses the same :class:`~linetrace.edge.scanner.scanner.Scanner` as the agent (capture
process, decode workers, tracking), so an offline scan behaves exactly as the line would.
Passages are printed as they close (one JSON object per line with ``--json``, a table
otherwise), so a live source shows reads as they happen and a long file streams. With
``--stats`` a one-line JSON summary goes to stderr at the end, including after Ctrl-C.
Nothing is published: this is the tool for checking a camera position, a label print
run or a decoder setting before the agent runs.

A single photo, or a folder of them (each read at its own size), is as good an input as
a video: a linear code read in one picture is confirmed by independent second decoders on
the same view (:mod:`linetrace.edge.line.confirm`), as a still item on the line is.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from datetime import datetime
from pathlib import Path
from typing import Any, TextIO

from pydantic import ValidationError

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.stills import IMAGE_SUFFIXES
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.figures import ScannerStats
from linetrace.edge.scanner.scanner import Scanner
from linetrace.edge.scanner.settings import DEFAULT_WORKERS
from linetrace.edge.vision.formats import DecoderError
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.progress import progress, watched

__all__ = ["passage_record", "run_scan", "scan_passages", "scan_summary"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERRUPTED = 130
EXIT_USAGE = 2  # argparse's code for bad arguments; an unopenable source is one too


def scan_passages(scanner: Scanner) -> Iterator[Passage]:
    """Every passage ``scanner`` (started) finds, as each closes; the rest when it ends."""
    yield from scanner


def passage_record(passage: Passage) -> dict[str, Any]:
    """The JSON object ``edge scan --json`` prints for one passage."""
    return {
        "kind": passage.kind.value,
        "symbology": passage.symbology,
        "symbology_id": passage.symbology_id,
        "text": passage.text,
        "gs1": passage.gs1,
        "observed_at": _rfc3339(passage.first_seen),
        "last_seen": _rfc3339(passage.last_seen),
        "frames": passage.frames,
        "checks": {name: check.model_dump() for name, check in passage.checks.items()},
        "snapshot_bytes": len(passage.snapshot) if passage.snapshot is not None else None,
    }


def scan_summary(stats: ScannerStats, seconds: float) -> dict[str, Any]:
    """The ``--stats`` line: throughput and counts of one scan."""
    frames = stats.decoded + stats.still
    summary: dict[str, Any] = {
        "frames": frames,
        "seconds": round(seconds, 3),
        "fps": round(frames / seconds, 1) if seconds > 0 else 0.0,
    }
    summary.update(stats.as_dict())
    return summary


def run_scan(args: argparse.Namespace) -> int:
    """The ``edge scan`` verb; ``args`` as :mod:`linetrace.edge.cli.parser` parses them."""
    try:
        config = PipelineConfig(
            backend=args.backend,
            formats=tuple(args.formats) if args.formats else None,
            **({"window_s": args.window} if args.window is not None else {}),
        )
        scanner = Scanner(
            config,
            args.path,
            realtime=args.realtime,
            utc_offset=args.utc_offset,
            start=args.start,
            fps=args.fps,
            workers=DEFAULT_WORKERS if args.workers is None else args.workers,
        )
        scanner.start()
    except (ValidationError, DecoderError, SourceError) as exc:
        print(f"linetrace edge scan: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    with closing(scanner):
        return _scan(scanner, args)


def _scan(scanner: Scanner, args: argparse.Namespace) -> int:
    write = _write_json if args.json else _write_row
    started = time.perf_counter()
    code = EXIT_OK
    total = frame_total(args.path) if watched() else None
    with progress("scanning", total=total, unit="frames") as bar:
        out = sys.stdout  # inside: on a terminal the bar keeps the rows above itself
        if not args.json:
            _write_header(out)
        try:
            for passage in scan_passages(scanner):
                write(out, passage)
                stats = scanner.stats
                bar.set_completed(stats.decoded + stats.still)
        except KeyboardInterrupt:
            code = EXIT_INTERRUPTED
            for passage in scanner.finish():
                write(out, passage)
    seconds = time.perf_counter() - started
    if args.stats:
        summary = scan_summary(scanner.stats, seconds)
        print(json.dumps(summary), file=sys.stderr, flush=True)
    return code


def frame_total(path: str) -> int | None:
    """Frames in a video file or images in a folder, for the bar's estimate; None if unknown
    (a camera, a stream, a file OpenCV cannot count)."""
    source = Path(path)
    if source.is_dir():
        return sum(1 for entry in source.iterdir() if entry.suffix.lower() in IMAGE_SUFFIXES)
    if not source.is_file():
        return None
    if source.suffix.lower() in IMAGE_SUFFIXES:
        return 1
    import cv2

    capture = cv2.VideoCapture(str(source))
    try:
        count = int(capture.get(cv2.CAP_PROP_FRAME_COUNT))
    finally:
        capture.release()
    return count if count > 0 else None


def _write_json(out: TextIO, passage: Passage) -> None:
    out.write(json.dumps(passage_record(passage), ensure_ascii=False) + "\n")
    out.flush()


_ROW = "{:<29}  {:<11}  {:>6}  {}\n"


def _write_header(out: TextIO) -> None:
    out.write(_ROW.format("observed_at", "symbology", "frames", "text"))


def _write_row(out: TextIO, passage: Passage) -> None:
    text = to_hri(passage.symbology_id, passage.text or "")
    printable = text.replace("\x1d", "<GS>") if passage.kind is EventKind.READ else "(no read)"
    out.write(
        _ROW.format(
            _rfc3339(passage.first_seen), passage.symbology or "?", passage.frames, printable
        )
    )
    out.flush()


def _rfc3339(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds")


def _first_line(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        problems = [f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()]
        return "; ".join(problems)
    return str(exc)
