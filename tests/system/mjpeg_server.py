"""A camera the tests control: an HTTP Motion-JPEG stream with faults on demand.

It serves ``multipart/x-mixed-replace`` (the stream IP cameras and OpenCV's VideoCapture
speak) on ``/stream``, looping over JPEG pictures given to it at a fixed rate, to every
client at once. The test turns faults on and off while it runs:

* :meth:`MjpegCamera.stall`: connections stay open and nothing more is sent (new ones are
  accepted and get nothing either), as a frozen encoder does;
* :meth:`MjpegCamera.go_down`: every connection is closed and nothing listens on the port,
  as a camera that reboots or a cut cable;
* :meth:`MjpegCamera.come_back`: the same port streams again;
* :meth:`MjpegCamera.corrupt`: the next ``n`` pictures sent are garbage instead of JPEGs.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Self

__all__ = ["MjpegCamera"]

BOUNDARY = b"linetraceframe"
# Bytes that are no JPEG (no start-of-image marker) but look like a picture on the wire.
GARBAGE = bytes(range(256)) * 8


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    camera: MjpegCamera


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        camera = self.server.camera
        if self.path != "/stream":
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", f"multipart/x-mixed-replace; boundary={BOUNDARY.decode()}")
        self.send_header("Cache-Control", "no-cache")
        self.end_headers()
        camera.serve(self.connection, self.wfile)

    def log_message(self, format: str, *args: object) -> None:
        return


class MjpegCamera:
    """The stream on ``url`` until :meth:`close`; see the module docstring."""

    def __init__(self, pictures: list[bytes], fps: float, port: int) -> None:
        self._pictures = pictures
        self._interval = 1.0 / fps
        self._port = port
        self._lock = threading.Lock()
        self._stalled = False
        self._corrupt = 0
        self._connections: set[socket.socket] = set()
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self.sent = 0  # pictures sent, garbage included
        self.garbage_sent = 0
        self.url = f"http://127.0.0.1:{port}/stream"

    # -- faults ------------------------------------------------------------------------------

    def stall(self) -> None:
        with self._lock:
            self._stalled = True

    def go_down(self) -> None:
        """Close every connection and stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()
            server.server_close()
        with self._lock:
            connections, self._connections = set(self._connections), set()
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def come_back(self) -> None:
        """Listen again on the same port, streaming."""
        with self._lock:
            self._stalled = False
        self._listen()

    def corrupt(self, pictures: int) -> None:
        with self._lock:
            self._corrupt += pictures

    # -- serving -----------------------------------------------------------------------------

    def serve(self, connection: socket.socket, out: object) -> None:
        """Stream to one client until it leaves or the camera goes down."""
        with self._lock:
            self._connections.add(connection)
        write = out.write  # type: ignore[attr-defined]
        index = 0
        next_at = time.monotonic()
        try:
            while True:
                with self._lock:
                    if connection not in self._connections:
                        return
                    stalled = self._stalled
                    garbage = self._corrupt > 0 and not stalled
                    if garbage:
                        self._corrupt -= 1
                next_at += self._interval
                time.sleep(max(0.0, next_at - time.monotonic()))
                if stalled:
                    next_at = time.monotonic()
                    continue
                picture = GARBAGE if garbage else self._pictures[index % len(self._pictures)]
                index += 0 if garbage else 1
                head = b"--%s\r\nContent-Type: image/jpeg\r\nContent-Length: %d\r\n\r\n" % (
                    BOUNDARY,
                    len(picture),
                )
                write(head + picture + b"\r\n")
                with self._lock:
                    self.sent += 1
                    self.garbage_sent += garbage
        except OSError:
            return  # the client left, or the camera went down
        finally:
            with self._lock:
                self._connections.discard(connection)

    def _listen(self) -> None:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.camera = self
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="mjpeg", daemon=True)
        self._thread.start()

    def __enter__(self) -> Self:
        self._listen()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.go_down()
