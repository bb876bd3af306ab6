"""Where frames come from: a camera, a network stream, a video file, images on disk.

:func:`open_source` reads a source spec and returns a :class:`FrameSource`, an iterator
of :class:`~linetrace.edge.camera.frame.Frame` that owns its file or device (close it, or use
it in a ``with`` block). Every frame is stamped once, at capture:

* live sources (camera index, ``/dev/video*``, ``rtsp://``/``http://`` URLs) and files
  played with ``realtime=True`` carry the wall clock (in the station's UTC offset) and
  ``time.monotonic()``; a realtime file is paced to its frame rate and, like a live
  camera, skips the frames a slow reader was too late for (counted in ``dropped``);
* files read as fast as possible carry media time: ``mono`` is seconds into the file
  and ``wall`` is ``start`` plus that, so a recording scans to the same passages at any
  speed.

A Motion-JPEG stream (an HTTP multipart stream, many IP cameras) is read picture by
picture (:mod:`~linetrace.edge.camera.jpeg_stream`): a picture that does not decode is
skipped and counted in ``skipped``, and the stream goes on. A live stream that delivers
nothing for ``read_timeout_s`` has stalled: its frames end, and the capture process
reopens it.

A folder of images is played in name order at a fixed ``fps``, each image at its own
size (:mod:`~linetrace.edge.camera.stills`). A source that cannot be opened at all raises
:class:`~linetrace.edge.camera.frame_source.SourceError` with what to check.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from datetime import datetime, timedelta, tzinfo
from pathlib import Path
from typing import TYPE_CHECKING, Any

import cv2
import numpy as np

from linetrace.edge.camera.clock import station_timezone
from linetrace.edge.camera.frame import Frame
from linetrace.edge.camera.frame_source import FrameClock, FrameSource, Pacer, SourceError
from linetrace.edge.camera.jpeg_stream import MAX_CORRUPT_RUN, decode_picture, undecoded_jpeg
from linetrace.edge.camera.settings import DEFAULT_READ_TIMEOUT_S
from linetrace.edge.camera.stills import (
    DEFAULT_FOLDER_FPS,
    IMAGE_SUFFIXES,
    FolderSource,
    ImageSource,
)

if TYPE_CHECKING:
    import numpy.typing as npt

__all__ = ["DEFAULT_FOLDER_FPS", "IMAGE_SUFFIXES", "open_source"]

logger = logging.getLogger(__name__)

STREAM_SCHEMES = ("rtsp://", "rtsps://", "http://", "https://", "rtmp://", "udp://")
# An IP camera on the line's network answers within a second; twice the read timeout (ten
# seconds by default) tolerates one that is still booting without hanging the agent's
# start on a dead address. A live stream that delivers nothing for the read timeout has
# stalled; the iterator ends so a supervisor can reopen it.
STREAM_OPEN_TIMEOUTS = 2
# A container that reports no usable frame rate is played at the common camera rate.
FALLBACK_FPS = 30.0
# Frame rates outside this range are container metadata errors, not cameras.
_PLAUSIBLE_FPS = (0.1, 1000.0)
# Pixel formats (FFmpeg's, as fourcc) whose first plane is the full-size luminance: read
# undecoded, such a picture is already the grayscale image every decoder wants, which
# saves the colour conversion, a fifth of the cost of decoding a video frame.
_LUMA_FIRST = frozenset({"I420", "IYUV", "YV12", "NV12", "NV21", "Y42B", "444P"})


class _VideoSource(FrameSource):
    """A video file, camera or stream through OpenCV's VideoCapture."""

    def __init__(
        self,
        capture: cv2.VideoCapture,
        description: str,
        clock: FrameClock,
        *,
        is_file: bool,
        realtime: bool,
        first_index: int = 0,
        luma: bool = False,
        jpeg: bool = False,
    ) -> None:
        """``first_index``: the frame of a file to start at (resuming after a failure);
        ``luma``: deliver grayscale frames straight from the decoder where the stream's
        pixel format allows (:data:`_LUMA_FIRST`); ``jpeg``: the capture hands over
        undecoded JPEG pictures (:func:`undecoded_jpeg`), decoded here one by one."""
        reported = float(capture.get(cv2.CAP_PROP_FPS) or 0.0)
        plausible = _PLAUSIBLE_FPS[0] <= reported <= _PLAUSIBLE_FPS[1]
        fps = reported if plausible else None
        super().__init__(description, fps, live=not is_file, realtime=realtime)
        self._capture = capture
        self._clock = clock
        self._is_file = is_file
        self._realtime = realtime
        self._first: npt.NDArray[np.uint8] | None = None
        self._first_index = 0
        self._jpeg = jpeg
        self._grey = luma
        self._luma = luma and not jpeg and _luma_only(capture)
        if is_file and first_index > 0:
            self._seek(first_index)
        if is_file:
            first = self._read()
            if first is None:
                capture.release()
                raise SourceError(f"{description} has no frame OpenCV can decode")
            self._first = first

    def _seek(self, index: int) -> None:
        """Start at frame ``index`` by reading past the frames before it: slower than a
        container seek, but exact for every codec, and resuming is rare."""
        position = 0
        while position < index and self._capture.grab():
            position += 1
        self._first_index = position

    def _generate(self) -> Iterator[Frame]:
        interval = 1.0 / (self.fps or FALLBACK_FPS)
        index = self._first_index
        pacer = Pacer(index * interval) if self._realtime and self._is_file else None
        while True:
            media_s = index * interval
            if pacer is not None and pacer.lateness(media_s) > interval:
                # A camera does not wait for a slow reader: skip the frames it missed.
                if not self._skip():
                    return
                self.dropped += 1
                index += 1
                continue
            image = self._read()
            if image is None:
                return
            yield self._clock.stamp(image, index, media_s)
            index += 1

    def _skip(self) -> bool:
        if self._first is not None:
            self._first = None
            return True
        return bool(self._capture.grab())

    def _read(self) -> npt.NDArray[np.uint8] | None:
        if self._first is not None:
            first, self._first = self._first, None
            return first
        if self._jpeg:
            return self._read_picture()
        ok, decoded = self._capture.read()
        if ok and decoded is not None:
            image = np.asarray(decoded, dtype=np.uint8)
            if self._luma and not self._is_luma(image):
                return self._read()
            return image
        if not self._is_file:
            logger.warning("%s stopped delivering frames", self.description)
        return None

    def _read_picture(self) -> npt.NDArray[np.uint8] | None:
        """The next picture that decodes: corrupt ones are skipped and counted."""
        run = 0
        while True:
            ok, packet = self._capture.read()
            if not ok or packet is None:
                logger.warning("%s stopped delivering frames", self.description)
                return None
            image = decode_picture(np.asarray(packet, dtype=np.uint8), grey=self._grey)
            if image is not None:
                return image
            self.skipped += 1
            run += 1
            if run == 1:
                logger.warning(
                    "%s: skipped a picture that does not decode (%d so far)",
                    self.description,
                    self.skipped,
                )
            if run >= MAX_CORRUPT_RUN:
                raise SourceError(
                    f"{self.description} sent {run} pictures in a row that do not decode"
                )

    def _is_luma(self, image: npt.NDArray[np.uint8]) -> bool:
        """Whether an undecoded picture is the luminance plane; if not, decode colour
        from now on (this picture is lost)."""
        width = int(self._capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(self._capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        if image.ndim == 2 and image.shape == (height, width):
            return True
        logger.warning("%s: luminance plane not as expected; decoding colour", self.description)
        self._luma = False
        self._capture.set(cv2.CAP_PROP_CONVERT_RGB, 1)
        return False

    def close(self) -> None:
        super().close()
        self._capture.release()


def open_source(
    spec: str,
    *,
    realtime: bool = False,
    utc_offset: timedelta | tzinfo | None = None,
    start: datetime | None = None,
    fps: float | None = None,
    first_index: int = 0,
    luma: bool = False,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
) -> FrameSource:
    """Open the source ``spec`` names: camera index, ``/dev/video*``, stream URL, video
    file, image file or folder of images.

    ``utc_offset`` is the station's (default: this machine's zone); ``start`` is the wall
    time of an offline file's first frame (default: now); ``fps`` times a folder of
    images (default :data:`DEFAULT_FOLDER_FPS`) and is ignored elsewhere; ``first_index``
    starts a file or folder at that frame, with the times it has there (a capture that
    reopens its source after a failure resumes where it was), and is ignored by live
    sources, which have no position. With ``luma``, video files and streams deliver
    grayscale frames where their pixel format carries them ready (faster); other sources,
    and all by default, deliver colour (BGR). A stream that delivers nothing for
    ``read_timeout_s`` ends (a stall), and opening one may take twice as long.
    """
    if fps is not None and not fps > 0:
        raise SourceError(f"fps must be positive, got {fps}")
    if first_index < 0:
        raise SourceError(f"first_index must not be negative, got {first_index}")
    zone = station_timezone(utc_offset)
    spec = spec.strip()
    if spec.lower().startswith(STREAM_SCHEMES):
        capture = _stream_capture(spec, read_timeout_s)
        return _open_live(capture, f"stream {_redact(spec)}", zone, luma=luma, stream=True)
    if spec.isdigit():
        return _open_live(cv2.VideoCapture(int(spec)), f"camera {spec}", zone)
    if spec.startswith("/dev/video"):
        return _open_live(cv2.VideoCapture(spec, cv2.CAP_V4L2), f"camera {spec}", zone)
    path = Path(spec).expanduser()
    if path.is_dir():
        clock = FrameClock(zone, start, live=realtime)
        rate = fps or DEFAULT_FOLDER_FPS
        return FolderSource(path, clock, rate, realtime=realtime, first_index=first_index)
    if path.is_file():
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return ImageSource(path, FrameClock(zone, start, live=False))
        return _open_video_file(
            path, zone, start, realtime=realtime, first_index=first_index, luma=luma
        )
    raise SourceError(f"no such file or folder: {spec} (nor a camera index or stream URL)")


def _open_live(
    capture: cv2.VideoCapture,
    description: str,
    zone: tzinfo,
    *,
    luma: bool = False,
    stream: bool = False,
) -> FrameSource:
    if not capture.isOpened():
        capture.release()
        raise SourceError(
            f"cannot open {description}: check that it is connected, reachable and not "
            "in use by another process"
        )
    logger.info("opened %s", description)
    return _VideoSource(
        capture,
        description,
        FrameClock(zone, None, live=True),
        is_file=False,
        realtime=False,
        luma=luma,
        jpeg=stream and undecoded_jpeg(capture),
    )


def _open_video_file(
    path: Path,
    zone: tzinfo,
    start: datetime | None,
    *,
    realtime: bool,
    first_index: int,
    luma: bool,
) -> FrameSource:
    capture = cv2.VideoCapture(str(path))
    if not capture.isOpened():
        capture.release()
        raise SourceError(f"cannot open {path} as a video: not a format OpenCV can decode")
    return _VideoSource(
        capture,
        f"video {path}",
        FrameClock(zone, start, live=realtime),
        is_file=True,
        realtime=realtime,
        first_index=first_index,
        luma=luma,
    )


def _luma_only(capture: cv2.VideoCapture) -> bool:
    """Ask ``capture`` for undecoded pictures when their first plane is the luminance."""
    code = int(capture.get(cv2.CAP_PROP_CODEC_PIXEL_FORMAT))
    fourcc = code.to_bytes(4, "little").decode("latin-1")
    if fourcc not in _LUMA_FIRST or not capture.set(cv2.CAP_PROP_CONVERT_RGB, 0):
        return False
    # OpenCV warns on every undecoded picture that it "will be treated as 8UC1", which is
    # exactly what is wanted here; keep its errors.
    cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_ERROR)
    return True


def _stream_capture(url: str, read_timeout_s: float) -> cv2.VideoCapture:
    read_ms = max(1, round(1000 * read_timeout_s))
    params: list[Any] = [
        cv2.CAP_PROP_OPEN_TIMEOUT_MSEC,
        STREAM_OPEN_TIMEOUTS * read_ms,
        cv2.CAP_PROP_READ_TIMEOUT_MSEC,
        read_ms,
    ]
    return cv2.VideoCapture(url, cv2.CAP_FFMPEG, params)


def _redact(url: str) -> str:
    """The URL without a password, for logs and errors."""
    return re.sub(r"//([^:/@]+):[^@/]*@", r"//\1:***@", url)
