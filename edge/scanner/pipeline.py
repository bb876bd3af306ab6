"""The scan pipeline: frames in, closed item passages out (read -> track -> interpret).

Reading a frame (locating its symbols and decoding them, :mod:`linetrace.edge.vision.reader`) is
the only costly step and a pure function of the frame and the hints it gets, so the
pipeline is split at that seam: :meth:`ScanPipeline.feed` reads and then calls
:meth:`ScanPipeline.observe_reading`, and a scanner that reads in worker processes calls
``observe_reading`` itself, in frame order, with what the workers read.

Reads that fail a GS1 check (a wrong check digit, an impossible date, data that claims
to be GS1 and is not) are never good reads: the passage is tracked like any other, so a
bad label seen in twenty frames is one rejection, and when it closes it is logged with
the reasons, counted in :attr:`ScanStats.rejected` and kept out of the passages
returned. A passage the tracker marks as outvoted (a different code read more often at
the same spot) is a misread and is dropped the same way, counted in ``misreads``; so is a
linear code decoded in fewer than ``linear_confirmations`` frames, counted in
``unconfirmed``, unless independent second reads of its view make up the difference where
no other frame could (a still scene, a single photo, the end of a file:
:mod:`linetrace.edge.line.confirm`). Interpretation runs once per passage, at close, not
once per frame.

A 2D symbol that no single frame has read is tried again from its last few views
combined (:mod:`linetrace.edge.vision.stack`), here rather than in a worker: only here are the
earlier frames known, and such symbols are few. A located symbol whose region closes
without ever decoding becomes a ``noread`` passage carrying a JPEG snapshot of it
(:mod:`linetrace.edge.line.regions` says when a region counts).
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import datetime

from linetrace.broker.contract.messages import EventKind
from linetrace.edge.camera.frame import Frame
from linetrace.edge.line.confirm import Confirmer
from linetrace.edge.line.gs1 import interpret
from linetrace.edge.line.passage import Passage
from linetrace.edge.line.region_track import RegionTrack, shifted
from linetrace.edge.line.regions import RegionTracker
from linetrace.edge.line.stream_clock import StreamClock
from linetrace.edge.line.track import PassageTracker, Track
from linetrace.edge.scanner.snapshots import SnapshotEncoder
from linetrace.edge.scanner.whole_read import WholeRead, with_whole
from linetrace.edge.vision.decode import Decoder, Symbol, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import (
    DEFAULT_FORMATS,
    LINEAR_FORMATS,
)
from linetrace.edge.vision.reader import FrameReader
from linetrace.edge.vision.reading import Hint, Reading
from linetrace.edge.vision.second_read import SecondReader
from linetrace.edge.vision.settings import PipelineConfig

__all__ = ["ScanPipeline", "ScanStats", "build_decoder"]

logger = logging.getLogger(__name__)

# Application Identifiers that make a code name one item: a serial with its GTIN (21),
# an SSCC (00), a GIAI (8004) or a GRAI with serial (8003).
_SERIAL_AIS = frozenset({"21", "00", "8003", "8004"})


@functools.lru_cache(maxsize=4096)
def _serialised_text(symbology_id: str | None, text: str) -> bool:
    meaning = interpret(symbology_id, text)
    return meaning.gs1 is not None and not _SERIAL_AIS.isdisjoint(meaning.gs1)


def _serialised(symbol: Symbol) -> bool:
    """Whether ``symbol`` names one item by itself (cached: each code is seen many times)."""
    return _serialised_text(symbol.symbology_id, symbol.text)


def build_decoder(config: PipelineConfig) -> Decoder:
    """The decoder ``config`` asks for (a worker process builds its own from the config)."""
    if config.backend == "zbar":
        return ZbarDecoder(config.formats)
    return ZxingDecoder(
        config.formats or DEFAULT_FORMATS,
        try_rotate=config.try_rotate,
        try_invert=config.try_invert,
        try_downscale=config.try_downscale,
    )


@dataclass(slots=True)
class ScanStats:
    """Running counters of one pipeline; ``as_dict`` is what status and ``--stats`` show."""

    frames: int = 0
    symbols: int = 0  # decoded symbols, summed over frames (carried ones not counted)
    reads: int = 0  # read passages handed out
    noreads: int = 0  # symbols located during a passage and never decoded
    rejected: int = 0  # passages dropped because a GS1 check failed
    misreads: int = 0  # passages dropped as misreads of a code read more often in place
    unconfirmed: int = 0  # linear-code passages decoded in too few frames to count
    second_reads: int = 0  # agreeing independent reads of a linear code where no frame could
    disputes: int = 0  # independent reads that read another code than the frame reader
    carried: int = 0  # regions not decoded because their label was read already
    stacked: int = 0  # symbols read only from several frames' views combined
    still: int = 0  # frames not read because nothing had changed
    attempts: int = 0  # decoder calls
    decode_seconds: float = 0.0

    @property
    def decode_ms_per_frame(self) -> float:
        return 1000.0 * self.decode_seconds / self.frames if self.frames else 0.0

    def as_dict(self) -> dict[str, float]:
        values: dict[str, float] = asdict(self)
        values["decode_ms_per_frame"] = round(self.decode_ms_per_frame, 3)
        values["decode_seconds"] = round(self.decode_seconds, 6)
        return values


class ScanPipeline:
    """Read, track and interpret one camera's frames, in capture order.

    :meth:`feed` reads a frame itself; a scanner that reads in worker processes asks
    :meth:`hints` for the labels already read, has the frame read elsewhere, and hands the
    :class:`~linetrace.edge.vision.reading.Reading` to :meth:`observe_reading`, in frame order.
    """

    def __init__(
        self, config: PipelineConfig, decoder: Decoder | None = None, *, live: bool = True
    ) -> None:
        """``decoder``, when given, decodes whole frames instead of the config's reader.
        ``live``: frames carry the monotonic clock of their arrival, which can pause (not
        a file or folder scanned fast, stamped with media time)."""
        self.config = config
        self._decoder = decoder
        self._reader = FrameReader(config) if decoder is None else None
        self._tracker = PassageTracker(config.window_s, serialised=_serialised)
        self._confirm = Confirmer(
            SecondReader(config), config.window_s, config.linear_confirmations
        )
        self._regions = RegionTracker(
            config.window_s,
            config.linear_confirmations,
            keep_views=config.stack and config.locate and self._reader is not None,
            doubts=self._confirm.doubts,
        )
        self._stats = ScanStats()
        self._in_view: list[Symbol] = []  # the symbols of the last frame read
        # The source's pauses, left out of the trackers' time (see stream_clock).
        self._clock = StreamClock(live=live)
        # A frame that read nothing, decoded whole if a still frame or the end follows;
        # ``photos`` (a source of separate pictures) decodes each such frame whole at once.
        self._whole = WholeRead()
        self.photos = False
        # No-read pictures are encoded off this loop (see scanner/snapshots.py).
        self._snapshots = SnapshotEncoder()

    @property
    def stats(self) -> ScanStats:
        return self._stats

    def hints(self, mono: float, index: int | None = None) -> list[Hint]:
        """The labels already read, where they should be at ``mono``, the time of frame
        ``index`` (none if not tracked)."""
        if not self.config.track_reads or not self.config.locate:
            return []
        self._regions.belt = self._tracker.belt
        clock = self._clock
        paused = clock.paused if index is None else clock.peek(index, mono)
        return self._regions.hints(mono - paused)

    def feed(self, frame: Frame) -> list[Passage]:
        """Read ``frame``; return the passages it closed."""
        if self._reader is None:
            if self._decoder is None:
                raise RuntimeError("a pipeline with neither a reader nor a decoder")
            started = time.perf_counter()
            symbols = self._decoder.decode(frame.image)
            reading = Reading(loose=tuple(symbols), seconds=time.perf_counter() - started)
        else:
            reading = self._reader.read(frame.image, self.hints(frame.mono, frame.index))
        return self.observe_reading(frame, reading)

    def observe(self, frame: Frame, symbols: Sequence[Symbol]) -> list[Passage]:
        """Track ``symbols``, already decoded from the whole of ``frame``; return the
        passages closed."""
        return self.observe_reading(frame, Reading(loose=tuple(symbols)))

    def observe_reading(self, frame: Frame, reading: Reading) -> list[Passage]:
        """Track what was read in ``frame``; return the passages it closed, oldest first."""
        whole_read = self.photos and self._reader is not None and WholeRead.wanted(reading)
        if whole_read and self._reader is not None:
            reading = with_whole(reading, self._reader.read_picture(frame.image))
        stats = self._stats
        stats.frames += 1
        stats.decode_seconds += reading.seconds
        stats.attempts += reading.attempts
        decoded = reading.symbols
        stats.carried += sum(1 for s in reading.sightings if s.carried is not None)
        self._regions.belt = self._tracker.belt
        paused = self._clock.advance(frame.index, frame.mono)
        carried, regions = self._regions.observe(
            frame.index, frame.mono - paused, frame.wall, reading.sightings, frame.image
        )
        if whole_read:
            self._regions.record_whole(reading.loose)
        decoded += self._read_stacks()
        stats.symbols += len(decoded)
        tracks = self._tracker.observe(
            frame.index, frame.mono, frame.wall, decoded, carried, paused=paused
        )
        for symbol in self._regions.doubted_now:
            self._tracker.doubt(symbol, frame.index)
        self._in_view = decoded + carried
        passages = self._passages(tracks, regions)  # may confirm with the last frame's views
        self._confirm.keep(frame.index, frame.mono, frame.image, reading)
        if self._reader is not None and self.config.locate and not whole_read:
            self._whole.keep(frame.index, frame.mono, frame.wall, frame.image, reading)
        else:
            self._whole.take()
        return passages

    def _read_stacks(self) -> list[Symbol]:
        """Decode the combined views of the regions due (see :mod:`linetrace.edge.vision.stack`);
        what they read counts as decoded in this frame."""
        if self._reader is None:
            return []
        found: list[Symbol] = []
        for track in self._regions.due_stacks():
            if track.views is None:
                raise RuntimeError("a stack due on a region without views")
            started = time.perf_counter()
            image = track.views.combined()
            # The views are cut centred on the region (cv2.getRectSubPix's convention).
            (cx, cy), (side, _) = track.region.centre, track.views.size
            dx, dy = cx - (side - 1) / 2, cy - (side - 1) / 2
            symbols, calls = self._reader.read_region(image, track.region.moved(-dx, -dy))
            self._stats.attempts += calls
            self._stats.decode_seconds += time.perf_counter() - started
            if symbols:
                in_frame = [shifted(symbol, dx, dy) for symbol in symbols]
                self._regions.record_stacked(track, in_frame)
                self._stats.stacked += len(in_frame)
                found += in_frame
        return found

    def observe_still(self, index: int, mono: float, wall: datetime) -> list[Passage]:
        """A frame that did not change since the last one read: what was in view still is.

        Nothing is decoded again: the linear reads of the last frame read are confirmed,
        if at all, by independent second reads of their views, one agreeing read a frame
        (see :mod:`linetrace.edge.line.confirm`).
        """
        self._stats.frames += 1
        self._stats.still += 1
        paused = self._clock.advance(index, mono)
        regions = self._regions.observe_still(index, mono - paused, wall)
        found = self._read_whole(index, mono)
        confirmed = [] if found else self._confirm.still(index, mono)
        self._count_second_reads(len(confirmed))
        carried = [s for s in self._in_view if all(s is not c for c in confirmed)]
        decoded = found + confirmed
        tracks = self._tracker.observe(index, mono, wall, decoded, carried, paused=paused)
        if found:
            self._in_view = found + carried
        return self._passages(tracks, regions)

    def _read_whole(self, index: int, mono: float) -> list[Symbol]:
        """The last read frame decoded whole, if it read nothing (once: see
        :mod:`linetrace.edge.scanner.whole_read`); what it reads counts as decoded in
        frame ``index`` and is kept for second reads."""
        unread = self._whole.take()
        if unread is None or self._reader is None:
            return []
        whole = self._reader.read_whole(unread.image)
        self._stats.attempts += whole.attempts
        self._stats.decode_seconds += whole.seconds
        found = whole.symbols
        if found:
            self._stats.symbols += len(found)
            self._regions.record_whole(found)
            self._confirm.keep(index, mono, unread.image, whole)
        return found

    def _count_second_reads(self, agreeing: int) -> None:
        self._stats.second_reads += agreeing
        self._stats.disputes = self._confirm.disputes

    def finish(self) -> list[Passage]:
        """Close every open passage at the end of the stream (after the last frame is
        decoded whole, if it read nothing)."""
        closed: list[Track] = []
        unread = self._whole.peek()
        if unread is not None:
            found = self._read_whole(unread.index, unread.mono)
            paused = self._clock.paused
            closed = self._tracker.observe(
                unread.index, unread.mono, unread.wall, found, paused=paused
            )
        return self._passages(closed + self._tracker.finish(), self._regions.finish(), final=True)

    def _passages(
        self, tracks: list[Track], regions: list[RegionTrack], *, final: bool = False
    ) -> list[Passage]:
        """In the order first seen: by frame, since the wall clock may have been stepped.

        A no-read comes out once its picture is encoded (a later call; all by ``final``).
        """
        found = [(t.first_index, p) for t in tracks if (p := self._passage(t)) is not None]
        for region in regions:
            if region.is_noread:
                self._snapshots.submit(region.first_index, self._noread(region), region.snapshot)
        found += self._snapshots.drain() if final else self._snapshots.ready()
        return [passage for _, passage in sorted(found, key=lambda pair: pair[0])]

    def _noread(self, region: RegionTrack) -> Passage:
        """The no-read passage, without its picture yet (the encoder adds it)."""
        self._stats.noreads += 1
        logger.info(
            "no-read: a symbol seen in %d frames from %s never decoded",
            region.frames,
            region.first_seen.isoformat(timespec="milliseconds"),
        )
        return Passage(
            kind=EventKind.NOREAD,
            first_seen=region.first_seen,
            last_seen=region.last_seen,
            frames=region.frames,
        )

    def _passage(self, track: Track) -> Passage | None:
        symbol = track.symbol
        why = _misread(track)
        if why is not None:
            self._stats.misreads += 1
            logger.info(
                "dropped %s %r (%s frames) as a misread: %s",
                symbol.symbology,
                symbol.text,
                track.frames,
                why,
            )
            return None
        needed = self.config.linear_confirmations
        if symbol.symbology in LINEAR_FORMATS and track.decodes < needed:
            seconds = self._confirm.at_close(track, needed - track.decodes)
            self._count_second_reads(seconds)
            if track.decodes + seconds < needed:
                self._stats.unconfirmed += 1
                logger.info(
                    "dropped %s %r as unconfirmed: decoded in %d frame(s) and %d second "
                    "read(s), %d needed",
                    symbol.symbology,
                    symbol.text,
                    track.decodes,
                    seconds,
                    needed,
                )
                return None
        meaning = interpret(symbol.symbology_id, symbol.text, symbology=symbol.symbology)
        if not meaning.valid:
            self._stats.rejected += 1
            logger.warning(
                "rejected %s %r seen in %s frames: %s",
                symbol.symbology,
                symbol.text,
                track.frames,
                "; ".join(meaning.failures),
            )
            return None
        self._stats.reads += 1
        located = self._regions.first_located.get(symbol.key)
        return Passage(
            kind=EventKind.READ,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            first_mono=track.first_mono,
            last_mono=track.last_mono,
            frames=track.frames,
            symbology=symbol.symbology,
            symbology_id=symbol.symbology_id,
            text=symbol.text,
            gs1=meaning.gs1,
            checks=dict(meaning.checks),
            first_frame=track.first_index,
            first_frame_in_view=min(located, track.first_index) if located is not None else None,
            ec_used=track.ec_used,
        )


def _misread(track: Track) -> str | None:
    """Why ``track`` is a misread (its bands deny it, or a rival at its spot was read more
    often), or None."""
    if track.doubted:
        return "its bands read another code"
    if track.outvoted:
        rivals = ", ".join(f"{r.symbol.text!r} ({r.frames} frames)" for r in track.rivals)
        return f"read more often at its spot: {rivals}"
    return None
