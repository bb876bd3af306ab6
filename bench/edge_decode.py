"""The edge at line speed: the scanner against plain decoder loops on the same footage.

Generated conveyor videos (1280x720 and 1920x1080, 30 and 60 fps, up to 20 items/s, every
symbology mix and degradation level) are rendered once into ``bench/.cache/`` and then
scanned three ways:

* the station's :class:`~linetrace.edge.scanner.Scanner` (capture process, decode workers,
  locating, tracking) from the video file, as fast as possible: frames per second end to
  end, including decoding the video itself, and what it found against the video's truth;
* a plain single-process zxing-cpp loop with its defaults over the same frames;
* a plain pyzbar loop over the same frames (grayscale; zbar cannot read Data Matrix).

The loops are timed on the decoder call alone (video decoding not counted), which flatters
them. Read rate is over readable item passages (a loop "reads" an item when any frame in
its passage decodes its text); the scanner must also report no duplicates, no false reads,
and one no-read per occluded label. "Readable" is what the generator did not cover on
purpose, less what no decoder can read in fact: an item the scanner missed is tried once
more by a thorough decoder independent of the scanner (see ``undecodable_items``), and is
left out only if that fails in every frame too. The rate over every uncovered item is
printed beside it. A second table takes one video and adds the scanner's
pieces one at a time, to show what each bought.

    .venv/bin/python bench/edge_decode.py --quick    # three videos and the ablation, ~3 min
    .venv/bin/python bench/edge_decode.py            # every case (renders once, ~20 min)

Targets on a 2-core machine: >= 99.9 % of readable passages read, 0 duplicates, 0 false
reads; >= 150 fps at 720p, >= 100 fps at 1080p, and >= 2x the plain zxing-cpp loop.
Other processes on the machine skew the figures: the load average is printed with them.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import math
import os
import re
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

import cv2
import numpy as np
import numpy.typing as npt
import zxingcpp
from pyzbar import pyzbar

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.gs1 import to_hri
from linetrace.edge.model import Passage
from linetrace.edge.pipeline import PipelineConfig
from linetrace.edge.scanner import DEFAULT_WORKERS, Scanner
from linetrace.synth.conveyor import ConveyorSpec, Truth, TruthItem, write_conveyor

CACHE = Path(__file__).resolve().parent / ".cache" / "edge_decode"
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
ALL_KINDS = ("gs1-datamatrix", "gs1-qr-digital-link", "gs1-128-sscc", "ean-13")
# What the decoder reports for each kind of label the generator prints.
FORMAT_OF_KIND = {
    "gs1-datamatrix": "DataMatrix",
    "gs1-qr-digital-link": "QRCode",
    "gs1-128-sscc": "Code128",
    "ean-13": "EAN13",
}
# A passage's first sighting may precede the truth's first frame by one: the truth counts
# a label from the frame its symbol is whole, a locator may see the label a frame earlier.
EARLY_FRAMES = 1

Image = npt.NDArray[np.uint8]


@dataclass(frozen=True)
class Case:
    """One benchmark video."""

    width: int
    height: int
    fps: float
    items_per_second: float
    kinds: tuple[str, ...]
    degradation: str
    items: int
    seed: int = 7

    @property
    def name(self) -> str:
        mix = "all" if self.kinds == ALL_KINDS else "+".join(self.kinds)
        return f"{self.height}p{self.fps:g} {self.items_per_second:g}/s {mix} {self.degradation}"

    @property
    def spec(self) -> ConveyorSpec:
        return ConveyorSpec(
            items=self.items,
            fps=self.fps,
            width=self.width,
            height=self.height,
            items_per_second=self.items_per_second,
            seed=self.seed,
            mix={kind: 1.0 for kind in self.kinds},
            degradation=self.degradation,
        )

    @property
    def formats(self) -> tuple[str, ...]:
        """What a station that sees these labels would configure."""
        return tuple(FORMAT_OF_KIND[kind] for kind in self.kinds)


def full_cases() -> list[Case]:
    cases: list[Case] = []
    for width, height in ((1280, 720), (1920, 1080)):
        for level in ("none", "low", "medium", "high"):
            cases.append(Case(width, height, 30.0, 10.0, ALL_KINDS, level, 120))
        cases.append(Case(width, height, 60.0, 20.0, ALL_KINDS, "medium", 200))
    for kind in ALL_KINDS:
        cases.append(Case(1280, 720, 30.0, 10.0, (kind,), "medium", 80))
    cases.append(Case(1280, 720, 30.0, 2.0, ALL_KINDS, "low", 30))
    cases.append(Case(1280, 720, 30.0, 20.0, ALL_KINDS, "medium", 200))
    return cases


def quick_cases() -> list[Case]:
    return [
        Case(1280, 720, 30.0, 10.0, ALL_KINDS, "medium", 60),
        Case(1920, 1080, 30.0, 10.0, ALL_KINDS, "medium", 60),
        Case(1280, 720, 30.0, 10.0, ALL_KINDS, "high", 60),
    ]


def video_for(case: Case) -> tuple[Path, Truth]:
    """The case's video from the cache, rendered first if it is not there yet."""
    key = hashlib.sha256(json.dumps(asdict(case), sort_keys=True).encode()).hexdigest()[:16]
    path = CACHE / f"{key}.mp4"
    truth_file = path.with_suffix(".truth.json")
    if path.exists() and truth_file.exists():
        return path, Truth.load(truth_file)
    CACHE.mkdir(parents=True, exist_ok=True)
    print(f"  rendering {case.name} ...", file=sys.stderr, flush=True)
    return path, write_conveyor(path, case.spec)


def frames(path: Path) -> Iterator[Image]:
    """The video's frames as the camera's decoder hands them over (BGR)."""
    capture = cv2.VideoCapture(str(path))
    try:
        while True:
            ok, image = capture.read()
            if not ok:
                return
            yield np.asarray(image, np.uint8)
    finally:
        capture.release()


# --- scoring ------------------------------------------------------------------------------


def _plain(text: str) -> str:
    """Text with GS1 brackets and separators removed: how zxing and zbar texts compare."""
    return re.sub(r"[()\x1d]", "", text)


@dataclass
class Score:
    """What one scan found against the truth."""

    readable: int = 0
    occluded: int = 0
    read: int = 0
    duplicates: int = 0
    false_reads: int = 0
    noreads_right: int = 0
    noreads_extra: int = 0  # a second no-read for one occluded label
    noreads_false: int = 0  # a no-read where no occluded label was
    missed: list[str] = field(default_factory=list)
    missed_items: list[int] = field(default_factory=list)
    # Missed items that no thorough decoder reads from any frame either (see ``decodable``):
    # not readable in fact, so not counted against the scanner.
    undecodable: list[int] = field(default_factory=list)

    @property
    def decodable(self) -> int:
        """The readable items some decoder can read in fact."""
        return self.readable - len(self.undecodable)

    @property
    def read_rate(self) -> float:
        """Of the readable items that some decoder reads."""
        return 100.0 * self.read / self.decodable if self.decodable else 100.0

    @property
    def unoccluded_rate(self) -> float:
        """Of every item not covered on purpose, readable in fact or not."""
        return 100.0 * self.read / self.readable if self.readable else 100.0


def score_passages(truth: Truth, passages: list[Passage]) -> Score:
    items = truth.items
    score = Score(
        readable=sum(item.readable for item in items),
        occluded=sum(not item.readable for item in items),
    )
    done: set[int] = set()
    fps = truth.spec.fps
    for passage in sorted(passages, key=lambda p: p.first_seen):
        frame = round((passage.first_seen - START).total_seconds() * fps)
        if passage.kind is EventKind.NOREAD:
            _score_noread(score, items, done, frame)
        else:
            _score_read(score, items, done, frame, passage)
    missed = [item for item in items if item.readable and item.index not in done]
    score.missed = [f"{item.index}:{item.symbology}" for item in missed]
    score.missed_items = [item.index for item in missed]
    return score


def _in_view(item: TruthItem, frame: int) -> bool:
    return item.first_frame - EARLY_FRAMES <= frame <= item.last_frame


def _score_read(
    score: Score, items: list[TruthItem], done: set[int], frame: int, passage: Passage
) -> None:
    text = to_hri(passage.symbology_id, passage.text or "")
    matches = [
        item
        for item in items
        if item.readable
        and item.text == text
        and FORMAT_OF_KIND[item.symbology] == passage.symbology
        and _in_view(item, frame)
    ]
    fresh = [item for item in matches if item.index not in done]
    if fresh:
        done.add(fresh[0].index)
        score.read += 1
    elif matches:
        score.duplicates += 1
    else:
        score.false_reads += 1


def _score_noread(score: Score, items: list[TruthItem], done: set[int], frame: int) -> None:
    matches = [item for item in items if not item.readable and _in_view(item, frame)]
    fresh = [item for item in matches if item.index not in done]
    if fresh:
        done.add(fresh[0].index)
        score.noreads_right += 1
    elif matches:
        score.noreads_extra += 1
    else:
        score.noreads_false += 1


def loop_read_rate(
    truth: Truth, texts_per_frame: list[set[str]], undecodable: frozenset[int] = frozenset()
) -> float:
    """Share of readable items whose text a plain loop decoded in any frame of the passage
    (leaving out those no decoder can read)."""
    readable = [i for i in truth.items if i.readable and i.index not in undecodable]
    read = sum(
        any(
            _plain(item.text) in texts_per_frame[f]
            for f in range(item.first_frame, min(item.last_frame + 1, len(texts_per_frame)))
        )
        for item in readable
    )
    return 100.0 * read / len(readable) if readable else 100.0


# --- which readable labels can be read at all -------------------------------------------

# The generator marks a label readable unless it covers it on purpose, but wear can leave a
# label that no decoder reads from any frame. A missed item counts against the scanner only
# if a thorough decoder, independent of the scanner's pipeline, reads its text from some
# frame of its passage: zxing-cpp trying hardest (every quarter turn, inverted, smaller
# copies, both binarizers) and zbar, on the whole frame at its own size and magnified, and
# turned in steps that let one scan line cross every bar of a linear code at any tilt (a
# straight line crosses a whole GS1-128 up to about 16 degrees off its axis).
ORACLE_SCALES = (1.0, 2.0)
ORACLE_TURNS = (0.0, 30.0, 60.0)
ORACLE_BINARIZERS = (zxingcpp.Binarizer.LocalAverage, zxingcpp.Binarizer.FixedThreshold)


LINEAR_KINDS = frozenset({"gs1-128-sscc", "ean-13"})


def _oracle_views(gray: Image, turns: tuple[float, ...]) -> Iterator[Image]:
    for scale in ORACLE_SCALES:
        big = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=cv2.INTER_CUBIC)
        height, width = big.shape[:2]
        for turn in turns:
            if turn == 0.0:
                yield np.asarray(big, np.uint8)
                continue
            matrix = cv2.getRotationMatrix2D((width / 2, height / 2), turn, 1.0)
            side = int(math.hypot(width, height))
            matrix[:, 2] += ((side - width) / 2, (side - height) / 2)
            yield np.asarray(cv2.warpAffine(big, matrix, (side, side), borderValue=128), np.uint8)


def _oracle_texts(view: Image) -> Iterator[str]:
    for binarizer in ORACLE_BINARIZERS:
        for found in zxingcpp.read_barcodes(view, try_invert=True, binarizer=binarizer):
            yield found.text
    for found in pyzbar.decode(view):
        yield found.data.decode("utf-8", "replace")


def undecodable_items(path: Path, truth: Truth, missed: list[int]) -> list[int]:
    """Those of the ``missed`` items whose text no thorough decoder reads in any frame of
    their passage (see the constants above)."""
    pending = {index: truth.items[index] for index in missed}
    if not pending:
        return []
    for number, image in enumerate(frames(path)):
        due = [i for i, item in pending.items() if item.first_frame <= number <= item.last_frame]
        if not due:
            if number > max(item.last_frame for item in pending.values()):
                break
            continue
        gray = np.asarray(cv2.cvtColor(image, cv2.COLOR_BGR2GRAY), np.uint8)
        # Turning helps scan lines across bars only; matrix detectors find any rotation.
        linear = any(pending[i].symbology in LINEAR_KINDS for i in due)
        for view in _oracle_views(gray, ORACLE_TURNS if linear else (0.0,)):
            texts = {_plain(text) for text in _oracle_texts(view)}
            for index in [i for i in due if _plain(pending[i].text) in texts]:
                del pending[index]
                due.remove(index)
            if not due:
                break
        if not pending:
            break
    return sorted(pending)


# --- the three ways to scan --------------------------------------------------------------


@dataclass
class LoopRun:
    fps: float
    read_rate: float


Run = TypeVar("Run", "LoopRun", "ScanRun")


def best(repeat: int, run: Callable[[], Run]) -> Run:
    """The fastest of ``repeat`` runs: other processes on the machine only ever slow a run
    down, so the fastest is the least disturbed."""
    runs = [run() for _ in range(max(repeat, 1))]
    return max(runs, key=lambda r: r.fps)


def zxing_loop(path: Path, truth: Truth, undecodable: frozenset[int] = frozenset()) -> LoopRun:
    """zxing-cpp with its defaults, one frame after another, in this process."""
    return _loop(
        path, truth, lambda image: [b.text for b in zxingcpp.read_barcodes(image)], undecodable
    )


def pyzbar_loop(path: Path, truth: Truth, undecodable: frozenset[int] = frozenset()) -> LoopRun:
    """pyzbar (zbar) with its defaults on the grayscale frame."""

    def decode(image: Image) -> list[str]:
        gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
        return [d.data.decode("utf-8", "replace") for d in pyzbar.decode(gray)]

    return _loop(path, truth, decode, undecodable)


def _loop(
    path: Path,
    truth: Truth,
    decode: Callable[[Image], list[str]],
    undecodable: frozenset[int] = frozenset(),
) -> LoopRun:
    seconds = 0.0
    found: list[set[str]] = []
    for image in frames(path):
        started = time.perf_counter()
        texts = decode(image)
        seconds += time.perf_counter() - started
        found.append({_plain(text) for text in texts})
    rate = loop_read_rate(truth, found, undecodable)
    return LoopRun(len(found) / seconds if seconds else 0.0, rate)


@dataclass
class ScanRun:
    fps: float
    frames: int
    p50: float
    p99: float
    score: Score
    stats: dict[str, float]


def scanner_run(path: Path, truth: Truth, config: PipelineConfig, workers: int) -> ScanRun:
    """The station's scanner over the file, as fast as possible (nothing dropped)."""
    with Scanner(config, str(path), start=START, workers=workers) as scanner:
        started = time.perf_counter()
        passages = list(scanner)
        seconds = time.perf_counter() - started
        stats = scanner.stats
    count = stats.decoded + stats.still
    return ScanRun(
        fps=count / seconds if seconds else 0.0,
        frames=count,
        p50=stats.decode_ms_p50,
        p99=stats.decode_ms_p99,
        score=score_passages(truth, passages),
        stats=stats.as_dict(),
    )


# --- tables --------------------------------------------------------------------------------


def _load() -> str:
    one, five, _ = os.getloadavg()
    return f"{one:.2f} (1 min), {five:.2f} (5 min)"


# Each case's readable items that no decoder reads (found by ``compare``, used by ``ablation``).
UNDECODABLE: dict[Case, frozenset[int]] = {}


def compare(cases: list[Case], workers: int, repeat: int) -> list[dict[str, Any]]:
    header = (
        "| video | frames | readable (no decoder)/occluded | scanner fps | decode ms p50/p99 "
        "| read % (of unoccluded) | dup "
        "| false | no-reads right/extra/false | zxing fps | zxing read % | pyzbar fps "
        "| pyzbar read % | × zxing | × pyzbar |"
    )
    print(header)
    print("|" + "---|" * (header.count("|") - 1))
    rows: list[dict[str, Any]] = []
    for case in cases:
        path, truth = video_for(case)
        config = PipelineConfig(formats=case.formats)
        scan = best(repeat, partial(scanner_run, path, truth, config, workers))
        s = scan.score
        s.undecodable = undecodable_items(path, truth, s.missed_items)
        UNDECODABLE[case] = frozenset(s.undecodable)
        zx = best(repeat, partial(zxing_loop, path, truth, UNDECODABLE[case]))
        zb = best(repeat, partial(pyzbar_loop, path, truth, UNDECODABLE[case]))
        print(
            f"| {case.name} | {scan.frames} | {s.readable} ({len(s.undecodable)})/{s.occluded} "
            f"| {scan.fps:.0f} "
            f"| {scan.p50:.1f}/{scan.p99:.1f} | {s.read_rate:.2f} ({s.unoccluded_rate:.2f}) "
            f"| {s.duplicates} "
            f"| {s.false_reads} | {s.noreads_right}/{s.noreads_extra}/{s.noreads_false} "
            f"| {zx.fps:.0f} | {zx.read_rate:.1f} | {zb.fps:.0f} | {zb.read_rate:.1f} "
            f"| {scan.fps / zx.fps:.1f} | {scan.fps / zb.fps:.1f} |",
            flush=True,
        )
        if s.missed:
            none = f" (read by no decoder: {s.undecodable})" if s.undecodable else ""
            print(f"|   missed: {', '.join(s.missed[:12])}{none} |", flush=True)
        rows.append({"case": case.name, "scanner": asdict(scan), "zxing": asdict(zx),
                     "pyzbar": asdict(zb)})  # fmt: skip
    return rows


def ablation_cases(cases: list[Case], *, quick: bool) -> list[Case]:
    """The videos the pieces are measured on: all symbologies, medium wear one per size,
    and high wear at 720p, where restoring and combining views earn their keep (only the
    first with ``--quick``)."""
    chosen: dict[tuple[int, int, str], Case] = {}
    for case in cases:
        if case.kinds == ALL_KINDS and case.degradation == "medium":
            chosen.setdefault((case.width, case.height, "medium"), case)
        if case.kinds == ALL_KINDS and case.degradation == "high" and case.height == 720:
            chosen.setdefault((case.width, case.height, "high"), case)
    return list(chosen.values())[: 1 if quick else None]


def ablation(case: Case, workers: int, repeat: int) -> None:
    """Add the scanner's pieces one at a time on one video."""
    path, truth = video_for(case)
    none = UNDECODABLE.get(case, frozenset())
    zx = best(repeat, partial(zxing_loop, path, truth, none))
    print(f"\nWhat each piece buys, on {case.name} ({truth.frames} frames):\n")
    print("| configuration | workers | fps | × zxing loop | decoder calls/frame | read % |")
    print("|---|---|---|---|---|---|")
    print(f"| plain zxing-cpp loop, defaults (decoder call only) | 0 | {zx.fps:.0f} | 1.0 "
          f"| 1 | {zx.read_rate:.1f} |")  # fmt: skip
    whole = {"locate": False, "track_reads": False, "skip_still": False}
    fmt = {"formats": case.formats}
    each = {**fmt, "track_reads": False, "skip_still": False}
    steps: list[tuple[str, dict[str, Any], int]] = [
        ("scanner, whole frame, zxing defaults", {**whole, "formats": None, "try_invert": True}, 0),
        ("+ station formats, no try_invert", {**whole, **fmt}, 0),
        ("+ locate and rectify (no enhance)",
         {**each, "enhance": False, "restore": False, "stack": False}, 0),
        ("+ enhance undecoded regions", {**each, "restore": False, "stack": False}, 0),
        ("+ restore undecoded regions (deconvolve)", {**each, "stack": False}, 0),
        ("+ combine views of undecoded 2D symbols", each, 0),
        ("+ skip labels already read", {**fmt, "skip_still": False}, 0),
        ("+ skip still frames", fmt, 0),
        (f"+ {workers} decode worker process(es)", fmt, workers),
    ]  # fmt: skip
    for label, options, count in steps:
        config = PipelineConfig(**options)
        run = best(repeat, partial(scanner_run, path, truth, config, count))
        run.score.undecodable = [i for i in run.score.missed_items if i in none]
        calls = run.stats["attempts"] / max(run.frames, 1)
        print(
            f"| {label} | {count} | {run.fps:.0f} | {run.fps / zx.fps:.1f} | {calls:.2f} "
            f"| {run.score.read_rate:.2f} |",
            flush=True,
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="three videos and the ablation")
    parser.add_argument(
        "--workers",
        type=int,
        default=DEFAULT_WORKERS,
        help=f"decode worker processes for the scanner (default {DEFAULT_WORKERS})",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        help="runs of each measurement, the fastest kept (default 2, 1 with --quick)",
    )
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR)
    cases = quick_cases() if args.quick else full_cases()
    if args.repeat is None:
        args.repeat = 1 if args.quick else 2
    print(f"load average before: {_load()}; {os.cpu_count()} cores; scanner workers: "
          f"{args.workers}; fastest of {args.repeat} runs\n")  # fmt: skip
    rows = compare(cases, args.workers, args.repeat)
    for case in ablation_cases(cases, quick=args.quick):
        ablation(case, max(args.workers, 1), args.repeat)
    print(f"\nload average after: {_load()}")
    if args.json is not None:
        args.json.write_text(json.dumps(rows, indent=1, default=str), encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
