"""Worn labels: the read rate at each wear level, over many items, with and without each idea.

The synthetic conveyor (``linetrace.synth``) grades wear as none, low, medium and high; at
high wear modules are 1.5-2.2 px, blurred, noisy and JPEG-compressed, where single frames
often fail. Each level is rendered for several seeds (720p30, 10 items/s, every symbology,
cached in ``bench/.cache/``) and scanned in this process by the station's pipeline, once
per configuration named with ``--variant``, so every figure and its baseline come from the
same run on the same frames.

Per level and configuration it prints the items read of every item not covered on purpose
(readable in fact or not: what a line sees), the false reads (a code that is not the
item's), duplicates, and the pipeline's own decode time per frame.

    .venv/bin/python bench/edge_wear.py --levels high --seeds 7-26            # the goal
    .venv/bin/python bench/edge_wear.py --variant stack=false --variant vote=false

Goal: >= 99.9 % of uncovered items read at high wear, 0 false reads, at a decode time per
frame not much above the baseline's. Other processes skew the times: the load average is
printed with them.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from dataclasses import dataclass, field
from datetime import UTC
from typing import Any

from edge_decode import ALL_KINDS, Case, video_for

from harness.decode_truth import START, score_passages
from harness.figures import load_average
from linetrace.edge.camera.sources import open_source
from linetrace.edge.scanner.pipeline import ScanPipeline
from linetrace.edge.vision.settings import PipelineConfig

LEVELS = ("none", "low", "medium", "high")


@dataclass
class Tally:
    """One configuration's figures over the videos of one level."""

    items: int = 0  # not covered on purpose
    read: int = 0
    false_reads: int = 0
    duplicates: int = 0
    frames: int = 0
    seconds: float = 0.0
    missed: list[str] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return 100.0 * self.read / self.items if self.items else 100.0

    @property
    def ms_per_frame(self) -> float:
        return 1000.0 * self.seconds / self.frames if self.frames else 0.0


def parse_variant(text: str) -> tuple[str, dict[str, Any]]:
    """``key=value,key=value`` as PipelineConfig options (booleans and numbers parsed)."""
    options: dict[str, Any] = {}
    for part in filter(None, text.split(",")):
        key, _, value = part.partition("=")
        parsed: Any = {"true": True, "false": False}.get(value.lower(), value)
        if isinstance(parsed, str):
            try:
                parsed = float(value) if "." in value else int(value)
            except ValueError:
                parsed = value
        options[key] = parsed
    return text, options


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        first, last = text.split("-")
        return list(range(int(first), int(last) + 1))
    return [int(seed) for seed in text.split(",")]


def scan(case: Case, options: dict[str, Any], tally: Tally) -> None:
    """Scan one video in this process and add its figures to ``tally``."""
    path, truth = video_for(case)
    pipeline = ScanPipeline(PipelineConfig(formats=case.formats, **options))
    passages = []
    with open_source(str(path), utc_offset=UTC, start=START) as source:
        for frame in source:
            passages += pipeline.feed(frame)
    passages += pipeline.finish()
    score = score_passages(truth, passages)
    stats = pipeline.stats
    tally.items += score.readable
    tally.read += score.read
    tally.false_reads += score.false_reads
    tally.duplicates += score.duplicates
    tally.frames += stats.frames
    tally.seconds += stats.decode_seconds
    tally.missed += [f"s{case.seed}:{name}" for name in score.missed]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default=",".join(LEVELS), help="comma-separated levels")
    parser.add_argument("--seeds", default="7-16", help="e.g. 7-26 or 7,9 (default 7-16)")
    parser.add_argument("--items", type=int, default=120, help="items per video (default 120)")
    parser.add_argument(
        "--variant",
        action="append",
        default=[],
        help="a configuration to compare with the defaults, as key=value,... "
        "(PipelineConfig options); repeatable",
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    variants: list[tuple[str, dict[str, Any]]] = [("defaults", {})]
    variants += [parse_variant(v) for v in args.variant]
    seeds = parse_seeds(args.seeds)
    print(f"load average before: {load_average()}; seeds {args.seeds}, {args.items} items each\n")
    print("| wear | configuration | items | read % | false | dup | decode ms/frame | missed |")
    print("|---|---|---|---|---|---|---|---|")
    for level in args.levels.split(","):
        cases = [Case(1280, 720, 30.0, 10.0, ALL_KINDS, level, args.items, seed) for seed in seeds]
        for case in cases:
            video_for(case)  # render before timing anything
        for name, options in variants:
            tally = Tally()
            started = time.perf_counter()
            for case in cases:
                scan(case, options, tally)
            shown = ", ".join(tally.missed[:8]) + (" ..." if len(tally.missed) > 8 else "")
            print(
                f"| {level} | {name} | {tally.items} | {tally.rate:.2f} | {tally.false_reads} "
                f"| {tally.duplicates} | {tally.ms_per_frame:.2f} | {shown} |",
                flush=True,
            )
            logging.getLogger(__name__).debug("%s took %.0f s", name, time.perf_counter() - started)
    print(f"\nload average after: {load_average()}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
