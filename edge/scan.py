"""``linetrace edge scan``: run the pipeline over a file, folder or camera, offline.

Passages are printed as they close (one JSON object per line with ``--json``, a table
otherwise), so a live source shows reads as they happen and a long file streams. With
``--stats`` a one-line JSON summary goes to stderr at the end, including after Ctrl-C.
Nothing is published: this is the tool for checking a camera position, a label print
run or a decoder setting before the agent runs.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any, TextIO

from pydantic import ValidationError

from linetrace.edge.decode import DecoderError
from linetrace.edge.gs1 import to_hri
from linetrace.edge.model import Passage
from linetrace.edge.pipeline import PipelineConfig, ScanPipeline
from linetrace.edge.sources import FrameSource, SourceError, open_source

__all__ = ["passage_record", "run_scan", "scan_passages", "scan_summary"]

logger = logging.getLogger(__name__)

EXIT_OK = 0
EXIT_INTERRUPTED = 130
EXIT_USAGE = 2  # argparse's code for bad arguments; an unopenable source is one too


def scan_passages(source: FrameSource, pipeline: ScanPipeline) -> Iterator[Passage]:
    """Every passage in ``source``, as each closes; the rest when the source ends."""
    for frame in source:
        yield from pipeline.feed(frame)
    yield from pipeline.finish()


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
    }


def scan_summary(source: FrameSource, pipeline: ScanPipeline, seconds: float) -> dict[str, Any]:
    """The ``--stats`` line: throughput and counts of one scan."""
    stats = pipeline.stats
    return {
        "frames": stats.frames,
        "seconds": round(seconds, 3),
        "fps": round(stats.frames / seconds, 1) if seconds > 0 else 0.0,
        "reads": stats.reads,
        "noreads": stats.noreads,
        "rejected": stats.rejected,
        "misreads": stats.misreads,
        "symbols": stats.symbols,
        "decode_ms_per_frame": round(stats.decode_ms_per_frame, 2),
        "skipped": source.skipped,
        "dropped": source.dropped,
    }


def run_scan(args: argparse.Namespace) -> int:
    """The ``edge scan`` verb; ``args`` as :mod:`linetrace.edge.cli` parses them."""
    try:
        config = PipelineConfig(
            backend=args.backend,
            formats=tuple(args.formats) if args.formats else None,
            **({"window_s": args.window} if args.window is not None else {}),
        )
        pipeline = ScanPipeline(config)
        source = open_source(
            args.path,
            realtime=args.realtime,
            utc_offset=args.utc_offset,
            start=args.start,
            fps=args.fps,
        )
    except (ValidationError, DecoderError, SourceError) as exc:
        print(f"linetrace edge scan: error: {_first_line(exc)}", file=sys.stderr)
        return EXIT_USAGE
    with source:
        return _scan(source, pipeline, args)


def _scan(source: FrameSource, pipeline: ScanPipeline, args: argparse.Namespace) -> int:
    out = sys.stdout
    write = _write_json if args.json else _write_row
    if not args.json:
        _write_header(out)
    started = time.perf_counter()
    code = EXIT_OK
    try:
        for passage in scan_passages(source, pipeline):
            write(out, passage)
    except KeyboardInterrupt:
        code = EXIT_INTERRUPTED
        for passage in pipeline.finish():
            write(out, passage)
    seconds = time.perf_counter() - started
    if args.stats:
        print(json.dumps(scan_summary(source, pipeline, seconds)), file=sys.stderr, flush=True)
    return code


def _write_json(out: TextIO, passage: Passage) -> None:
    out.write(json.dumps(passage_record(passage), ensure_ascii=False) + "\n")
    out.flush()


_ROW = "{:<29}  {:<11}  {:>6}  {}\n"


def _write_header(out: TextIO) -> None:
    out.write(_ROW.format("observed_at", "symbology", "frames", "text"))


def _write_row(out: TextIO, passage: Passage) -> None:
    text = to_hri(passage.symbology_id, passage.text or "")
    printable = text.replace("\x1d", "<GS>")
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
