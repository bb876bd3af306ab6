"""The scan pipeline: frames in, closed item passages out (decode -> track -> interpret).

Decoding is the only costly step and a pure function of the image, so the pipeline is
split at that seam: :meth:`ScanPipeline.feed` decodes and then calls
:meth:`ScanPipeline.observe`, and an agent that decodes in worker processes calls
``observe`` itself, in frame order, with the symbols the workers found.

Reads that fail a GS1 check (a wrong check digit, an impossible date, data that claims
to be GS1 and is not) are never good reads: the passage is tracked like any other, so a
bad label seen in twenty frames is one rejection, and when it closes it is logged with
the reasons, counted in :attr:`ScanStats.rejected` and kept out of the passages
returned. A passage the tracker marks as outvoted (a different code read more often at
the same spot) is a misread and is dropped the same way, counted in ``misreads``.
Interpretation runs once per passage, at close, not once per frame.
"""

from __future__ import annotations

import functools
import logging
import time
from dataclasses import asdict, dataclass

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator

from linetrace.broker.events import EventKind
from linetrace.edge.decode import (
    DEFAULT_FORMATS,
    FORMATS,
    Backend,
    Decoder,
    Symbol,
    ZbarDecoder,
    ZxingDecoder,
    check_formats,
)
from linetrace.edge.gs1 import interpret
from linetrace.edge.model import Frame, Passage
from linetrace.edge.track import PassageTracker, Track

__all__ = ["PipelineConfig", "ScanPipeline", "ScanStats", "build_decoder"]

logger = logging.getLogger(__name__)

# Longer than a label's usual dropout (a few frames of glare or blur at 25-30 fps is
# 0.1-0.3 s) and shorter than the gap between two items on a line running 2-4 items/s,
# so a flicker does not split one item and two items with the same code stay apart.
DEFAULT_WINDOW_S = 0.5


class PipelineConfig(BaseModel):
    """How a station decodes and groups reads."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    backend: Backend = Field(
        default="zxing",
        description="Decoder backend: zxing (zxing-cpp, every GS1 carrier) or zbar "
        "(linear codes and QR only; needs the libzbar0 system library).",
    )
    formats: tuple[str, ...] | None = Field(
        default=None,
        description="Barcode formats to look for (zxing-cpp names, e.g. DataMatrix, QRCode, "
        f"Code128, EAN13); fewer is faster. Default: the GS1 carriers {list(DEFAULT_FORMATS)} "
        "that the backend can read. Known: " + ", ".join(FORMATS) + ".",
    )
    window_s: float = Field(
        default=DEFAULT_WINDOW_S,
        ge=0.0,
        le=60.0,
        description="Seconds a code may go unseen and still be the same item passage; a "
        "passage closes once its code has been absent for longer.",
    )
    try_rotate: bool = Field(
        default=True,
        description="zxing: also look for codes rotated by 90/270 degrees (items may lie "
        "either way on the belt).",
    )
    try_invert: bool = Field(
        default=False,
        description="zxing: also look for light-on-dark codes; costs decode time, off "
        "unless labels are printed inverted.",
    )
    try_downscale: bool = Field(
        default=True,
        description="zxing: also scan downscaled copies, which finds large codes in big "
        "frames faster.",
    )

    @field_validator("formats")
    @classmethod
    def _formats_known(
        cls, formats: tuple[str, ...] | None, info: ValidationInfo
    ) -> tuple[str, ...] | None:
        if formats is None:
            return None
        if not formats:
            raise ValueError("name at least one barcode format, or leave formats out")
        return check_formats(info.data.get("backend", "zxing"), formats)


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
    symbols: int = 0  # decoded symbols, summed over frames
    reads: int = 0  # read passages handed out
    # No-read passages. A decoder alone never sees a symbol it cannot read; this counts
    # once a symbol locator reports located-but-undecoded symbols.
    noreads: int = 0
    rejected: int = 0  # passages dropped because a GS1 check failed
    misreads: int = 0  # passages dropped as misreads of a code read more often in place
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
    """Decode, track and interpret one camera's frames, in capture order."""

    def __init__(self, config: PipelineConfig, decoder: Decoder | None = None) -> None:
        self.config = config
        self._decoder = decoder if decoder is not None else build_decoder(config)
        self._tracker = PassageTracker(config.window_s, serialised=_serialised)
        self._stats = ScanStats()

    @property
    def stats(self) -> ScanStats:
        return self._stats

    def feed(self, frame: Frame) -> list[Passage]:
        """Decode ``frame``; return the passages it closed."""
        started = time.perf_counter()
        symbols = self._decoder.decode(frame.image)
        self._stats.decode_seconds += time.perf_counter() - started
        return self.observe(frame, symbols)

    def observe(self, frame: Frame, symbols: list[Symbol]) -> list[Passage]:
        """Track ``symbols``, already decoded from ``frame``; return the passages closed."""
        self._stats.frames += 1
        self._stats.symbols += len(symbols)
        closed = self._tracker.observe(frame.index, frame.mono, frame.wall, symbols)
        return self._passages(closed)

    def finish(self) -> list[Passage]:
        """Close every open passage at the end of the stream."""
        return self._passages(self._tracker.finish())

    def _passages(self, tracks: list[Track]) -> list[Passage]:
        passages = []
        for track in tracks:
            passage = self._passage(track)
            if passage is not None:
                passages.append(passage)
        return passages

    def _passage(self, track: Track) -> Passage | None:
        symbol = track.symbol
        if track.outvoted:
            self._stats.misreads += 1
            logger.info(
                "dropped %s %r (%s frames) as a misread of %s",
                symbol.symbology,
                symbol.text,
                track.frames,
                ", ".join(f"{r.symbol.text!r} ({r.frames} frames)" for r in track.rivals),
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
        return Passage(
            kind=EventKind.READ,
            first_seen=track.first_seen,
            last_seen=track.last_seen,
            frames=track.frames,
            symbology=symbol.symbology,
            symbology_id=symbol.symbology_id,
            text=symbol.text,
            gs1=meaning.gs1,
            checks=dict(meaning.checks),
        )
