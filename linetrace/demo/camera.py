"""The demo's cameras: one HTTP Motion-JPEG stream per station, filming endless footage.

A real plant's edge reads IP cameras; the demo gives its edge agents the same thing, so
they run exactly as in production (a live stream stamped with the wall clock, reopened
if it stalls). Each station's footage (:mod:`linetrace.demo.footage`) is drawn in a
thread of its own at the camera's frame rate and handed to every client as it is drawn;
a client that reads slowly misses pictures rather than holding the camera back.

Run as a child process of ``linetrace demo``: ``python -m linetrace.demo.camera``.
"""

from __future__ import annotations

import argparse
import logging
import signal
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import FrameType

import cv2

from linetrace.demo.footage import station_frames
from linetrace.demo.plant import STATIONS, DemoStation
from linetrace.logs import configure_logging

__all__ = ["StationCamera", "main"]

logger = logging.getLogger(__name__)

BOUNDARY = b"linetraceframe"
# Quality 85 keeps the labels' module edges crisp at a fraction of the raw size.
JPEG_QUALITY = 85


class StationCamera:
    """One station's stream: the latest picture and a condition to wait for the next."""

    def __init__(self, station: DemoStation, folder: Path, fps: float, ips: float, items: int):
        self.station = station
        self._frames = station_frames(
            station, folder, fps=fps, items_per_second=ips, items_per_video=items
        )
        self._interval = 1.0 / fps
        self._changed = threading.Condition()
        self._picture = b""
        self._number = 0  # pictures taken so far
        self.video = 0

    def film(self, stop: threading.Event) -> None:
        """Draw and publish pictures at the frame rate until ``stop``."""
        next_at = time.monotonic()
        for video, image in self._frames:
            if video != self.video:
                self.video = video
                logger.info("%s: video %d starts", self.station.id, video)
            ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])
            if ok:
                with self._changed:
                    self._picture, self._number = encoded.tobytes(), self._number + 1
                    self._changed.notify_all()
            next_at = max(next_at + self._interval, time.monotonic() - self._interval)
            if stop.wait(max(0.0, next_at - time.monotonic())):
                return

    def next_picture(self, after: int, timeout: float) -> tuple[int, bytes] | None:
        """The first picture newer than number ``after``, or None after ``timeout``."""
        with self._changed:
            if not self._changed.wait_for(lambda: self._number > after, timeout):
                return None
            return self._number, self._picture


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    cameras: dict[str, StationCamera]
    stop: threading.Event


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        camera = self.server.cameras.get(self.path)
        if camera is None:
            self.send_error(404, "no such camera; try " + ", ".join(self.server.cameras))
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        number = 0
        try:
            while not self.server.stop.is_set():
                taken = camera.next_picture(number, timeout=1.0)
                if taken is None:
                    continue
                number, picture = taken
                head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (
                    BOUNDARY,
                    len(picture),
                )
                self.wfile.write(head + picture + b"\r\n")
        except OSError:
            return  # the client left

    def log_message(self, format: str, *args: object) -> None:
        return


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m linetrace.demo.camera")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--fps", type=float, required=True)
    parser.add_argument("--items-per-second", type=float, required=True)
    parser.add_argument("--items-per-video", type=int, required=True)
    args = parser.parse_args(argv)
    configure_logging()
    stop = threading.Event()

    def handle(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, handle)
    signal.signal(signal.SIGINT, handle)
    cameras = {
        station.path: StationCamera(
            station, args.state_dir, args.fps, args.items_per_second, args.items_per_video
        )
        for station in STATIONS
    }
    server = _Server(("127.0.0.1", args.port), _Handler)
    server.cameras, server.stop = cameras, stop
    threads = [
        threading.Thread(target=camera.film, args=(stop,), name=f"film {path}", daemon=True)
        for path, camera in cameras.items()
    ]
    for thread in threads:
        thread.start()
    serving = threading.Thread(target=server.serve_forever, name="camera-http", daemon=True)
    serving.start()
    logger.info("demo cameras on http://127.0.0.1:%d: %s", args.port, ", ".join(cameras))
    stop.wait()
    server.shutdown()
    server.server_close()
    for thread in threads:
        thread.join(timeout=5)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
