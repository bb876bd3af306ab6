"""What a no-read's snapshot costs the scan loop: encoding inline (as before) against
handing it to the snapshot encoder's thread (edge/scanner/snapshots.py).

Crops are synthetic label views: a 2D-code-like grid of black and white modules, clean
or worn (blur and sensor noise, which JPEG compresses badly and which forces the encoder
down its quality and size steps to fit the contract's bound). For each size and kind it
prints the median and the 95th percentile of the time the loop spends per no-read, both
ways, the JPEG size, and the ratio. The encoder's own time is the same either way; what
moves is where it is spent.

    .venv/bin/python bench/edge_snapshot.py            # ~10 s
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from datetime import UTC, datetime

import cv2
import numpy as np

from harness.figures import load_average, percentile
from linetrace.broker.contract.messages import EventKind
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.snapshots import SnapshotEncoder
from linetrace.edge.vision.snapshot import encode_snapshot

SIZES = ((160, 160), (320, 320), (480, 640), (720, 1280))
FRAME_BUDGET_MS = 1000 / 30  # one frame at 30 fps


def crop(height: int, width: int, *, worn: bool, seed: int) -> np.ndarray:
    """A label view: random modules of about 1/24 of the shorter side, maybe worn."""
    rng = np.random.default_rng(seed)
    modules = rng.integers(0, 2, (24, 24), dtype=np.uint8) * 255
    side = min(height, width)
    grid = cv2.resize(modules, (side, side), interpolation=cv2.INTER_NEAREST)
    image = np.full((height, width), 235, np.uint8)
    top, left = (height - side) // 2, (width - side) // 2
    image[top : top + side, left : left + side] = grid
    if worn:
        blurred = cv2.GaussianBlur(image, (5, 5), 1.5).astype(np.float64)
        noisy = blurred + rng.normal(0, 28, image.shape)
        return np.asarray(np.clip(noisy, 0, 255), np.uint8)
    return image


def inline_ms(crops: list[np.ndarray]) -> tuple[list[float], int]:
    times, size = [], 0
    for image in crops:
        started = time.perf_counter()
        jpeg = encode_snapshot(image)
        times.append((time.perf_counter() - started) * 1000)
        size = len(jpeg or b"")
    return times, size


def handed_off_ms(crops: list[np.ndarray]) -> list[float]:
    encoder = SnapshotEncoder()
    times = []
    now = datetime.now(UTC)
    passage = Passage(EventKind.NOREAD, now, now, frames=5)
    for index, image in enumerate(crops):
        started = time.perf_counter()
        encoder.submit(index, passage, image)
        encoder.ready()
        times.append((time.perf_counter() - started) * 1000)
        time.sleep(FRAME_BUDGET_MS / 1000)  # the loop's next frames, one no-read a frame
    encoder.drain()
    return times


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=15, help="no-reads per case")
    args = parser.parse_args()
    print(f"cores {os.cpu_count()}, load {load_average()}; frame budget {FRAME_BUDGET_MS:.1f} ms")
    print(f"{'crop':>10} {'kind':>6} {'jpeg':>7} {'inline p50':>11} {'p95':>7} "
          f"{'handed off p50':>15} {'p95':>7} {'ratio p50':>10}")  # fmt: skip
    for height, width in SIZES:
        for worn in (False, True):
            crops = [crop(height, width, worn=worn, seed=n) for n in range(args.repeat)]
            inline, size = inline_ms(crops)
            off = handed_off_ms(crops)
            ratio = percentile(inline, 0.5) / max(percentile(off, 0.5), 1e-3)
            print(
                f"{width}x{height:<5} {'worn' if worn else 'clean':>6} {size:>7} "
                f"{percentile(inline, 0.5):>9.2f}ms {percentile(inline, 0.95):>5.2f}ms "
                f"{percentile(off, 0.5):>13.3f}ms {percentile(off, 0.95):>5.3f}ms {ratio:>9.0f}x"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
