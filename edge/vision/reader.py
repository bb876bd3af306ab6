"""Reading one frame: locate the code-like regions, decode each one, skip labels already read.

This is the costly step of the pipeline and a pure function of the frame and the hints it
is given, so it runs in worker processes (:mod:`linetrace.edge.scanner.decode_workers`)
as well as inline.

Why regions rather than the whole frame: decoding a label's cut-out costs a fraction of
the whole frame, a linear code turned upright reads where a turned one does not, and a
region that never decodes is exactly what a no-read is. Why hints: on a belt each label
stays in view for many frames, and once it has been read (twice, for a linear code) it
need not be decoded again: the main process tells the reader where those labels should be
now, and a region found there is reported as *carried* instead of being decoded.

Each region is tried in steps of rising cost, a step only where the ones before it failed,
so clean footage pays for the first alone: the plain cut-out (a linear code turned
upright), then ``enhance`` (magnified and sharpened; linear codes also stretched to full
contrast and cut at mid-grey), then ``restore`` (the blur divided out, a linear code's
rows averaged first: see :mod:`linetrace.edge.vision.restore`), then the other family's plain
try in case the locator took one for the other.

With ``locate`` off, the whole frame goes to the decoder instead, as the plain loop does;
there are no regions then, hence no no-reads and no hints.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterator, Sequence
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.camera.images import grayscale
from linetrace.edge.vision.cutouts import (
    crop_enhanced,
    magnified,
    mapped,
    region_to_frame,
    upright,
    upright_enhanced,
    with_bars,
)
from linetrace.edge.vision.decode import Decoder, Symbol, ZbarDecoder, ZxingDecoder
from linetrace.edge.vision.formats import DEFAULT_FORMATS, FORMATS, LINEAR_FORMATS
from linetrace.edge.vision.locate import Locator, Region, crop
from linetrace.edge.vision.picture_read import PictureTries
from linetrace.edge.vision.reading import Hint, Reading, Sighting
from linetrace.edge.vision.restore import (
    Blur,
    bar_profile,
    deblurred,
    deconvolved,
    profile_image,
    stretched,
)
from linetrace.edge.vision.stack import STACK_BLURS

if TYPE_CHECKING:
    import numpy.typing as npt

    from linetrace.edge.vision.settings import PipelineConfig

    Image = npt.NDArray[np.uint8]
    Affine = npt.NDArray[np.float64]

__all__ = ["FrameReader"]

# A region whose centre lies inside where a hinted label is predicted, or this close to
# it (pixels), is that label: the prediction is off by a few pixels (belt speed is steady,
# a region's outline wobbles by about a cell), while the next label is 50 px and more away.
HINT_TOLERANCE_PX = 8.0
# ... and is not much larger than it was: a region that grew past this factor may hold a
# second label that must still be decoded.
HINT_GROWTH = 1.5
# Restoring (``restore``), the last try on a region that neither plain nor enhanced read,
# measured on the synthetic "high" footage of three seeds (modules of 1.5-2.2 px, 1-3 px
# of motion blur, a lens blur of sigma 0.4-1.0 px, JPEG at quality 50):
# A linear code's bar profile (see restore.bar_profile) is cut out this many times finer
# than the frame and resampled finer still after deconvolution, so that edges can fall
# between pixels: 2 and 2 read as many frames as 4 and 1, at a third of the cost.
PROFILE_STRETCH = 2.0
PROFILE_FINER = 2
# ... and handed to the decoder as an image of this many identical rows.
PROFILE_ROWS = 8
# The blur divided out of a bar profile, across the bars: one model for every tilt, a
# 3 px smear and a 0.6 px lens blur. It read 11 of 12 linear items that every other try
# missed, in 82 of their 96 frames; two or three models read 2 frames more, and models of
# sigma 1.4 and more made misreads.
BAR_BLURS = (Blur(3.0, 0.6, 0.002),)
# The blur divided out of a matrix cut-out (a smear along the belt and a lens blur),
# before it is magnified: it read 13 of 16 matrix items that every other try missed, in
# 59 of their 139 frames; a second model (3.0, 0.9, 0.01) adds 16 frames and one item,
# at the cost of another decode on every region that never reads. Combining views (see
# stack) reads more of them.
MATRIX_BLURS = (Blur(2.0, 1.1, 0.01),)


class FrameReader:
    """Reads frames as ``config`` says: where to look, at what scale, for which formats."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        formats = config.formats or _backend_defaults(config.backend)
        linear = tuple(f for f in formats if f in LINEAR_FORMATS)
        matrix = tuple(f for f in formats if f not in LINEAR_FORMATS)
        self._whole = _decoder(config, formats, rotate=config.try_rotate, whole=True)
        self._picture = PictureTries(config, formats, self._whole)
        # Rectified cut-outs have their bars upright: no need to try other turns.
        self._linear = _decoder(config, linear, rotate=False, whole=False) if linear else None
        # Images stretched to full contrast keep faint narrow bars above mid-grey or below
        # it, where a local threshold would flatten them (zbar has no such choice).
        self._linear_fixed = (
            _decoder(config, linear, rotate=False, whole=False, fixed=True) if linear else None
        )
        # zxing-cpp's Data Matrix detector only searches every direction with try_rotate.
        self._matrix = _decoder(config, matrix, rotate=True, whole=False) if matrix else None
        # A restored cut-out is magnified for its modules' sake: smaller copies of it would
        # only repeat the plain try (and cost a fifth more).
        self._matrix_magnified = (
            _decoder(config, matrix, rotate=True, whole=False, downscale=False) if matrix else None
        )
        # Combined views (see stack) are quiet enough to be cut at mid-grey once restored.
        self._matrix_fixed = (
            _decoder(config, matrix, rotate=True, whole=False, downscale=False, fixed=True)
            if matrix
            else None
        )
        self._locator = Locator(density=config.locator_density)

    def read(self, image: Image, hints: Sequence[Hint] = ()) -> Reading:
        """Locate and decode the symbols of ``image``; regions matching ``hints`` are carried."""
        if not self.config.locate:
            return self.read_whole(image)
        started = time.perf_counter()
        work, to_frame = self._prepare(image)
        sightings: list[Sighting] = []
        attempts = 0
        for region in self._locator.locate(work):
            in_frame = region_to_frame(region, to_frame)
            hint = _matching_hint(in_frame, hints)
            if hint is not None and not hint.reread:
                sightings.append(Sighting(in_frame, carried=hint.key))
                continue
            found, tried = self._decode(work, region, reread=hint is not None)
            attempts += tried
            symbols = tuple(mapped(s, to_frame) for s in found)
            sightings.append(Sighting(in_frame, symbols))
        return Reading(tuple(sightings), (), time.perf_counter() - started, attempts)

    def read_whole(self, image: Image) -> Reading:
        """The whole of ``image`` decoded at once, as a plain loop reads it: for a frame
        whose located regions read nothing where time allows (a photo, a still scene; see
        :mod:`linetrace.edge.scanner.whole_read`), and for every frame with ``locate`` off.
        A tightly cut photo is mostly code, which the locator may not take for one."""
        started = time.perf_counter()
        work, to_frame = self._prepare(image)
        symbols = tuple(mapped(s, to_frame) for s in self._whole.decode(work))
        return Reading(loose=symbols, seconds=time.perf_counter() - started, attempts=1)

    def read_picture(self, image: Image) -> Reading:
        """The whole of ``image``, a photo, read as :meth:`read_whole` does and, where
        that reads nothing, with the further tries of
        :mod:`linetrace.edge.vision.picture_read`."""
        plain = self.read_whole(image)
        if plain.loose:
            return plain
        started = time.perf_counter()
        work, to_frame = self._prepare(image)
        found, scale, calls = self._picture.read(work)
        back = to_frame @ np.diag([1.0 / scale, 1.0 / scale, 1.0])
        return Reading(
            loose=tuple(mapped(s, back) for s in found),
            seconds=plain.seconds + time.perf_counter() - started,
            attempts=plain.attempts + calls,
        )

    def read_region(self, image: Image, region: Region) -> tuple[list[Symbol], int]:
        """The symbols in ``region`` of ``image`` (a cut-out, in frame pixels), tried as a
        located region of a frame is, and the decoder calls it took."""
        scale = self.config.scale
        work = grayscale(image)
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            work = np.asarray(
                cv2.resize(work, None, fx=scale, fy=scale, interpolation=interpolation), np.uint8
            )
            region = region.scaled(scale)
        work = np.ascontiguousarray(work)
        found, calls = self._decode(work, region)
        if not found and region.bars is None and self._matrix_fixed is not None:
            found, more = _read_restored_view(work, self._matrix_fixed)
            calls += more
        to_image = np.array([[1.0 / scale, 0.0, 0.0], [0.0, 1.0 / scale, 0.0]])
        return [mapped(s, to_image) for s in found], calls

    def _prepare(self, image: Image) -> tuple[Image, Affine]:
        """The part of ``image`` to search, scaled, and the map from it back to the frame."""
        gray = grayscale(image)
        x0 = y0 = 0
        if self.config.roi is not None:
            x, y, w, h = self.config.roi
            height, width = gray.shape
            x0, y0 = min(max(0, x), width - 1), min(max(0, y), height - 1)
            gray = gray[y0 : min(height, y + h), x0 : min(width, x + w)]
        scale = self.config.scale
        if scale != 1.0:
            interpolation = cv2.INTER_AREA if scale < 1.0 else cv2.INTER_LINEAR
            resized = cv2.resize(gray, None, fx=scale, fy=scale, interpolation=interpolation)
            gray = np.asarray(resized, np.uint8)
        to_frame = np.array([[1.0 / scale, 0.0, x0], [0.0, 1.0 / scale, y0]])
        return np.ascontiguousarray(gray), to_frame

    def _decode(
        self, work: Image, region: Region, *, reread: bool = False
    ) -> tuple[list[Symbol], int]:
        """The symbols in ``region`` and how many decoder calls it took to find them;
        ``reread``: not the plain try first (it misread this label, see Hint)."""
        calls = 0
        for step in self._steps(region, reread=reread):
            for image, back, decoder in step(work, region):
                if image.size == 0:
                    continue
                calls += 1
                found = decoder.decode(image)
                if found:
                    return [mapped(s, back) for s in found], calls
        return [], calls

    def _steps(self, region: Region, *, reread: bool = False) -> list[_Step]:
        """What to try on ``region``, most likely first: its own family plain, then
        enhanced, then restored, then the other family plain; a cut-off region gets one
        try. Each later step costs more and runs only where the ones before it failed.
        """
        config = self.config
        linear: list[_Step] = []
        matrix: list[_Step] = []
        if self._linear is not None:
            linear = [self._bars_enhanced] if config.enhance else []
            linear += [self._bars_restored] if config.restore else []
            # A doubted label is read again with the plain try last: it misread it.
            linear = [*linear, self._bars_plain] if reread else [self._bars_plain, *linear]
        if self._matrix is not None:
            matrix = [self._matrix_plain]
            matrix += [self._matrix_enhanced] if config.enhance else []
            matrix += [self._matrix_restored] if config.restore else []
        own, other = (linear, matrix) if region.bars is not None else (matrix, linear)
        steps = own + other[:1]
        return steps[:1] if region.edge else steps

    def _bars_plain(self, work: Image, region: Region) -> Iterator[_Attempt]:
        linear = _built(self._linear)
        image, back = upright(work, region)
        yield image, back, linear

    def _bars_enhanced(self, work: Image, region: Region) -> Iterator[_Attempt]:
        """Upright and sharpened; then the same stretched to full contrast and cut at
        mid-grey, which keeps narrow bars that the local threshold loses."""
        linear, fixed = _built(self._linear), _built(self._linear_fixed)
        image, back = upright_enhanced(work, region)
        yield image, back, linear
        if image.size:
            yield stretched(image), back, fixed

    def _bars_restored(self, work: Image, region: Region) -> Iterator[_Attempt]:
        """The bars' profile, averaged along exactly upright bars and deconvolved."""
        fixed = _built(self._linear_fixed)
        profile = bar_profile(work, with_bars(region), PROFILE_STRETCH)
        if profile is None:
            return
        for blur in BAR_BLURS:
            image, back = profile_image(deconvolved(profile, blur, PROFILE_FINER), PROFILE_ROWS)
            yield image, back, fixed

    def _matrix_plain(self, work: Image, region: Region) -> Iterator[_Attempt]:
        matrix = _built(self._matrix)
        image, back = crop(work, region)
        yield image, back, matrix

    def _matrix_enhanced(self, work: Image, region: Region) -> Iterator[_Attempt]:
        matrix = _built(self._matrix)
        image, back = crop_enhanced(work, region)
        yield image, back, matrix

    def _matrix_restored(self, work: Image, region: Region) -> Iterator[_Attempt]:
        """The cut-out deconvolved, then magnified for the finder patterns' sake."""
        magnified_decoder = _built(self._matrix_magnified)
        image, back = crop(work, region)
        if image.size == 0:
            return
        for blur in MATRIX_BLURS:
            restored, to_frame = magnified(deblurred(image, blur), back)
            yield restored, to_frame, magnified_decoder


def _read_restored_view(view: Image, decoder: Decoder) -> tuple[list[Symbol], int]:
    """A combined view's own tries (see :data:`~linetrace.edge.vision.stack.STACK_BLURS`):
    the whole view deblurred, magnified and cut at mid-grey; the decoder calls taken."""
    calls = 0
    for blur in STACK_BLURS:
        image, back = magnified(deblurred(view, blur), np.eye(2, 3))
        calls += 1
        found = decoder.decode(image)
        if found:
            return [mapped(s, back) for s in found], calls
    return [], calls


_Attempt = tuple["Image", "Affine", Decoder]
_Step = Callable[["Image", Region], Iterator[_Attempt]]


def _built(decoder: Decoder | None) -> Decoder:
    """A step's decoder; :meth:`FrameReader._steps` offers a step only when it was built."""
    if decoder is None:
        raise RuntimeError("a decode step offered without its decoder")
    return decoder


def _backend_defaults(backend: str) -> tuple[str, ...]:
    if backend == "zbar":
        return tuple(name for name in DEFAULT_FORMATS if FORMATS[name] is not None)
    return DEFAULT_FORMATS


def _decoder(
    config: PipelineConfig,
    formats: Sequence[str],
    *,
    rotate: bool,
    whole: bool,
    fixed: bool = False,
    downscale: bool = True,
) -> Decoder:
    if config.backend == "zbar":
        return ZbarDecoder(formats)
    return ZxingDecoder(
        formats,
        try_rotate=rotate,
        try_invert=config.try_invert,
        # A cut-out holds one label at its own size; only the whole frame needs smaller
        # copies to find large codes fast. Data Matrix finds itself faster with them.
        try_downscale=config.try_downscale if whole else rotate and downscale,
        binarizer="fixed" if fixed else "local",
    )


def _matching_hint(region: Region, hints: Sequence[Hint]) -> Hint | None:
    """The hint whose predicted region holds ``region``'s centre (the nearest if several)
    and is about as large: a region twice the size may be two labels run together."""
    held = [
        (math.dist(region.centre, hint.region.centre), hint.key, hint)
        for hint in hints
        if hint.region.holds(region.centre, HINT_TOLERANCE_PX)
        and region.area <= HINT_GROWTH * hint.region.area
    ]
    return min(held)[2] if held else None
