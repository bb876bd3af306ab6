"""Cameras per box: how many 720p30 cameras at 10 items/s one edge box keeps up with.

Each camera is a synthetic conveyor video (1280x720, 30 fps, 10 items/s, low wear, a
different seed per camera) played in real time, as a live camera delivers it: a frame
the box is too late for is dropped and counted. For N = 1, 2, ... cameras the box runs
as ``linetrace edge run`` runs a config with N ``[[cameras]]`` (:func:`run_box`: one
process, one station per camera, one shared decode pool), publishing to a local
Mosquitto; nobody confirms, so every event stays in its station's outbox, which is
where the reads are counted against the videos' truth.

Per N it prints the read rate over the readable items (every camera together, and the
worst camera), duplicates and false reads, frames dropped, and the CPU the box used
(its own process plus its capture and decode processes, from the kernel's accounting)
per camera, in % of one core. A box keeps N cameras when every camera reads >= 99.9 %
with no frame dropped. The baseline, measured in the same run, is N = 1 (one camera
alone, same code): the CPU per camera at N against it shows what sharing costs or saves;
the cost of decoding the video stream alone (OpenCV, one camera) is printed beside it,
as a floor no scanner can go below. Other processes on the machine skew every figure:
the load average and the cores other processes kept busy during each run are printed
with it.

    .venv/bin/python bench/edge_capacity.py                  # 1..6 cameras, 20 s each
    .venv/bin/python bench/edge_capacity.py --cameras 4 --seconds 10   # quicker

Goal on a 2-core box: at least 4 cameras.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import resource
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import cv2

from harness.figures import load_average
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.box import CameraRun, run_box
from linetrace.edge.config import EdgeConfig
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.scanner.settings import ScannerConfig
from linetrace.synth.conveyor import ConveyorSpec, Truth, plan, write_conveyor

CACHE = Path(__file__).resolve().parent / ".cache" / "edge_capacity"
GOAL_READ = 0.999
FPS = 30.0
ITEMS_PER_SECOND = 10.0


@dataclass
class Camera:
    video: Path
    truth: Truth


@dataclass
class Row:
    cameras: int
    wall_s: float
    read: float
    worst: float
    duplicates: int
    false_reads: int
    dropped: int
    cpu_box: float  # % of one core: the box process itself (tracking, delivery)
    cpu_children: float  # % of one core: capture and decode processes
    others_cores: float  # cores other processes kept busy meanwhile
    failed: int

    @property
    def cpu_per_camera(self) -> float:
        return (self.cpu_box + self.cpu_children) / self.cameras

    @property
    def keeps_up(self) -> bool:
        return self.worst >= GOAL_READ and self.dropped == 0 and not self.failed


def camera_video(index: int, seconds: float) -> Camera:
    """Camera ``index``'s video from the cache, rendered first if it is not there yet."""
    spec = ConveyorSpec(
        items=round(seconds * ITEMS_PER_SECOND),
        fps=FPS,
        width=1280,
        height=720,
        items_per_second=ITEMS_PER_SECOND,
        seed=100 + index,
        degradation="low",
    )
    video = CACHE / f"camera-{index}-{spec.items}.mp4"
    if video.exists():
        return Camera(video, plan(spec))
    CACHE.mkdir(parents=True, exist_ok=True)
    return Camera(video, write_conveyor(video, spec))


def _busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine, from /proc/stat."""
    fields = [int(value) for value in Path("/proc/stat").read_text().split("\n")[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def _own_cpu_s() -> tuple[float, float]:
    """CPU seconds of this process, and of its children that have ended."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime, children.ru_utime + children.ru_stime


def station_config(broker: LocalBroker, index: int, camera: Camera, folder: Path) -> EdgeConfig:
    station = StationId("bench", "L1", f"cam-{index}")
    credentials = broker.station(station)
    return EdgeConfig.model_validate(
        {
            # Labelling: every code is a read event (a packing station would turn each
            # SSCC into a pack event, counted apart).
            "station": {
                "site": station.site,
                "line": station.line,
                "station": station.station,
                "role": "labelling",
            },
            "source": {"spec": str(camera.video), "realtime": True},
            "mqtt": {
                "host": broker.host,
                "port": broker.port,
                "username": credentials.username,
                "password": credentials.password,
            },
            "outbox": {"path": str(folder / f"{station.station}.db")},
        }
    )


def score(config: EdgeConfig, truth: Truth) -> tuple[int, int, int, int]:
    """(readable items, read, duplicates, false reads) of one station's outbox."""
    with Outbox(config.outbox.path, config.station.id) as outbox:
        payloads = [json.loads(payload) for _, payload in outbox.pending(1_000_000)]
    got = Counter(
        to_hri(event.get("symbology_id"), event.get("text") or "")
        for event in payloads
        if event.get("kind") == "read"
    )
    every = Counter(item.text for item in truth.items)
    readable = Counter(item.text for item in truth.items if item.readable)
    read = sum(min(got[text], count) for text, count in readable.items())
    duplicates = sum(max(0, got[text] - every[text]) for text in got if text in every)
    false_reads = sum(count for text, count in got.items() if text not in every)
    return sum(readable.values()), read, duplicates, false_reads


def run_cameras(
    broker: LocalBroker, cameras: list[Camera], workers: int | None
) -> tuple[Row, list[CameraRun]]:
    with tempfile.TemporaryDirectory(prefix="edge-capacity-") as folder:
        configs = [
            station_config(broker, index, camera, Path(folder))
            for index, camera in enumerate(cameras)
        ]
        own_before, children_before = _own_cpu_s()
        busy_before, total_before = _busy_jiffies()
        started = time.monotonic()
        runs = run_box(
            configs, ScannerConfig(workers=workers), threading.Event(), flush_grace_s=0.1
        )
        wall = time.monotonic() - started
        own_after, children_after = _own_cpu_s()
        busy_after, total_after = _busy_jiffies()
        box_s, children_s = own_after - own_before, children_after - children_before
        cores = os.cpu_count() or 1
        machine_busy = cores * (busy_after - busy_before) / max(1, total_after - total_before)
        others = max(0.0, machine_busy - (box_s + children_s) / wall)
        scores = [
            score(config, camera.truth) for config, camera in zip(configs, cameras, strict=True)
        ]
    readable = sum(s[0] for s in scores)
    dropped = sum(
        max(0, camera.truth.frames - (run.summary.frames if run.summary else 0))
        for camera, run in zip(cameras, runs, strict=True)
    )
    row = Row(
        cameras=len(cameras),
        wall_s=wall,
        read=sum(s[1] for s in scores) / readable,
        worst=min(s[1] / s[0] for s in scores),
        duplicates=sum(s[2] for s in scores),
        false_reads=sum(s[3] for s in scores),
        dropped=dropped,
        cpu_box=100 * box_s / wall,
        cpu_children=100 * children_s / wall,
        others_cores=others,
        failed=sum(run.failed for run in runs),
    )
    return row, runs


def stream_decode_cpu(video: Path) -> float:
    """% of one core that decoding ``video`` at its frame rate costs (OpenCV, gray)."""
    capture = cv2.VideoCapture(str(video))
    frames, started = 0, time.process_time()
    while True:
        ok, frame = capture.read()
        if not ok:
            break
        cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        frames += 1
    capture.release()
    return 100 * (time.process_time() - started) / (frames / FPS)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cameras", type=int, default=6, help="the most cameras to try (6)")
    parser.add_argument("--seconds", type=float, default=20.0, help="video length (20 s)")
    parser.add_argument(
        "--workers", type=int, default=None, help="decode processes (default: cores - 1)"
    )
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s: %(message)s")
    cv2.setNumThreads(1)

    print(f"rendering {args.cameras} 720p30 videos of {args.seconds:g} s at 10 items/s ...")
    cameras = [camera_video(index, args.seconds) for index in range(args.cameras)]
    floor = stream_decode_cpu(cameras[0].video)
    print(f"{os.cpu_count()} cores; load average at start {load_average()}")
    print(f"decoding one 720p30 stream alone (OpenCV): {floor:.0f} % of a core\n")

    rows: list[Row] = []
    with (
        tempfile.TemporaryDirectory(prefix="edge-capacity-broker-") as directory,
        LocalBroker.create(Path(directory)) as broker,
    ):
        for count in range(1, args.cameras + 1):
            row, runs = run_cameras(broker, cameras[:count], args.workers)
            rows.append(row)
            for run in runs:
                if run.error is not None:
                    print(f"  {run.station}: {run.error}", file=sys.stderr)
            _print_row(row, rows[0])
    kept = [row.cameras for row in rows if row.keeps_up]
    every = next((row.cameras - 1 for row in rows if not row.keeps_up), len(rows))
    print(f"\nload average at end {load_average()}")
    print(
        f"kept up (>= {GOAL_READ:.1%} read by every camera, 0 dropped) with "
        f"{', '.join(map(str, kept)) or 'none'} cameras; every count up to {every}; "
        f"goal 4: {'met' if every >= 4 else 'missed'}"
    )
    return 0


_HEADER_PRINTED: list[bool] = []


def _print_row(row: Row, baseline: Row) -> None:
    if not _HEADER_PRINTED:
        _HEADER_PRINTED.append(True)
        print(
            "cams | read %  (worst) | dup/false | dropped | CPU/camera % (x one alone) "
            "| box + capture/decode % | others' cores | keeps up"
        )
    ratio = row.cpu_per_camera / baseline.cpu_per_camera
    print(
        f"{row.cameras:4d} | {100 * row.read:6.2f} ({100 * row.worst:6.2f}) | "
        f"{row.duplicates:3d}/{row.false_reads:<3d} | {row.dropped:7d} | "
        f"{row.cpu_per_camera:5.1f} ({ratio:.2f}x) | {row.cpu_box:5.1f} + {row.cpu_children:5.1f} "
        f"| {row.others_cores:.2f} | {'yes' if row.keeps_up else 'NO'}",
        flush=True,
    )


if __name__ == "__main__":
    sys.exit(main())
