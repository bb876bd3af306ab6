"""Restoring thin, blurred symbols for a last decode: bar profiles and deconvolution.

A label on a moving belt reaches the sensor smeared along the belt (motion blur) and
softened by the lens (defocus), then loses its finest detail to noise and JPEG. Where
modules are only 1.5-2 px wide, the narrow bars and cells keep a few percent of their
contrast: present, but below what a decoder's binarizer can separate. Both steps here
put that contrast back before the decoder sees the symbol:

* a linear code's bars run the whole height of the symbol, so averaging the rows of an
  upright cut-out gives one profile across the bars with the noise of ~100 rows averaged
  away (the voting over many scan lines that ``try_harder`` decoders do, taken to the
  end). That needs the bars exactly upright, so :func:`bar_profile` measures how far
  they still lean and turns the cut-out once more. The profile is then deconvolved and
  resampled finer (:func:`deconvolved`), so that edges fall between pixels.
* a matrix code has no such direction, so the cut-out itself is deconvolved
  (:func:`deblurred`), with the blur modelled as a short smear along the belt (the
  frame's x axis: mount the camera so the belt runs across the picture) and a Gaussian
  lens blur.

Deconvolution is a Wiener filter: the blur's transfer function is divided out where it
is strong and damped where it falls below the noise, which ``noise`` sets. Blur the
filter assumes but the image does not have turns into ringing, so the assumed blur is
moderate (see the constants in :mod:`linetrace.edge.vision.reader`).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import cv2
import numpy as np

from linetrace.edge.vision.locate import Region, rectify

if TYPE_CHECKING:
    import numpy.typing as npt

    Gray = npt.NDArray[np.uint8]
    Floats = npt.NDArray[np.float32]
    Affine = npt.NDArray[np.float64]

__all__ = [
    "BarProfile",
    "Blur",
    "bar_profile",
    "deblurred",
    "deconvolved",
    "profile_image",
    "stretched",
]

# The bar angle the locator measures from a region's gradients can be off by a few
# degrees (a label's caption and edges pull it, perspective shears the bars): the tilt
# left in an upright cut-out is measured up to this far, and taken out.
MAX_TILT_DEG = 5.0
# Rows whose mean gradient across the bars reaches this share of the strongest row's are
# bar rows; the caption above and the digits below fall short of it.
BAR_ROW_SHARE = 0.5
# Grey levels are stretched between these percentiles of the code's pixels: a few
# specular or dark outliers (glare, the box beyond the label) must not set the range.
STRETCH_PERCENTILES = (2.0, 98.0)
# A cut-out is deconvolved with the Wiener filter as a kernel this many pixels square,
# made once per blur: beyond 7 px from its centre its weights stay under 1 % of its peak
# (0.04 % of its energy) for the blurs used here, and it read more frames than the exact
# filter applied by Fourier transform of each cut-out, at about three quarters the cost.
KERNEL_PX = 15


@dataclass(frozen=True, slots=True)
class Blur:
    """A blur to divide out: a smear ``motion_px`` long and a Gaussian of ``sigma_px``,
    both in frame pixels; ``noise`` damps the division where the blurred signal is weaker
    than that share of it. The smear runs along the belt (the frame's x axis) in a
    cut-out, across the bars in a bar profile."""

    motion_px: float
    sigma_px: float
    noise: float


@dataclass(frozen=True, slots=True)
class BarProfile:
    """A linear code's grey levels across its bars, averaged along them.

    ``values[x]`` lies at column ``x / finer`` of an upright cut-out that was stretched
    ``stretch`` times across the bars and that ``back`` maps to frame pixels; the bars
    span its rows ``top`` to ``bottom``.
    """

    values: Floats
    back: Affine
    top: int
    bottom: int
    stretch: float
    finer: float = 1.0


def _bar_rows(upright: Floats) -> npt.NDArray[np.intp]:
    across = np.abs(np.diff(upright, axis=1)).mean(axis=1)
    strongest = float(across.max()) if across.size else 0.0
    if strongest <= 0.0:
        return np.empty(0, np.intp)
    return np.flatnonzero(across >= BAR_ROW_SHARE * strongest)


def _tilt(upright: Floats, rows: npt.NDArray[np.intp], stretch: float) -> float:
    """Degrees the bars of ``upright`` still lean: from how far the profile of the lower
    half of the bar rows lies shifted against the upper half's (cross-correlation, with
    the peak placed between samples by a parabola)."""
    half = rows.size // 2
    upper, lower = rows[:half], rows[half:]
    if half < 2:
        return 0.0
    first = upright[upper].mean(axis=0)
    second = upright[lower].mean(axis=0)
    first -= first.mean()
    second -= second.mean()
    height = float(lower.mean() - upper.mean())
    reach = math.ceil(stretch * height * math.tan(math.radians(MAX_TILT_DEG)))
    size = first.size
    if size <= 2 * reach + 2:
        return 0.0
    scores = np.array(
        [
            float(
                np.dot(first[max(0, -s) : size - max(0, s)], second[max(0, s) : size - max(0, -s)])
            )
            for s in range(-reach, reach + 1)
        ]
    )
    best = int(np.argmax(scores))
    shift = float(best - reach)
    if 0 < best < scores.size - 1:
        left, peak, right = scores[best - 1 : best + 2]
        curve = left - 2.0 * peak + right
        if curve < 0.0:
            shift += 0.5 * (left - right) / curve
    return math.degrees(math.atan2(shift, stretch * height))


def bar_profile(gray: Gray, region: Region, stretch: float) -> BarProfile | None:
    """The profile across ``region``'s bars, ``stretch`` times finer than the frame's
    pixels, taken once the bars stand exactly upright; None when the region has no bars
    or no rows of them."""
    if region.bars is None:
        return None
    # The lean is measured on a cut-out at the frame's own scale, a fraction of the cost
    # of a stretched one; the correlation peak falls between its samples. On the
    # synthetic footage it agreed with a search over angles to 0.25 degrees (median).
    plain = rectify(gray, region)[0].astype(np.float32)
    rows = _bar_rows(plain)
    if rows.size == 0:
        return None
    upright = replace(region, bars=region.bars - _tilt(plain, rows, 1.0))
    cut, back = rectify(gray, upright, stretch=stretch)
    image = cut.astype(np.float32)
    rows = _bar_rows(image)
    if rows.size == 0:
        return None
    values = image[rows].mean(axis=0)
    return BarProfile(values, back, int(rows[0]), int(rows[-1]), stretch)


def _transfer(frequencies: Floats, motion: Floats | float, blur: Blur, scale: float) -> Floats:
    """The blur's transfer function at squared ``frequencies`` (cycles per sample), a
    sample being 1/``scale`` frame pixels; ``motion`` is the smear's frequency component."""
    sigma = blur.sigma_px * scale
    gauss = np.exp(-2.0 * (math.pi * sigma) ** 2 * frequencies)
    smear = np.sinc(np.asarray(motion, np.float32) * blur.motion_px * scale)
    return np.asarray(gauss * smear, np.float32)


def deconvolved(profile: BarProfile, blur: Blur, finer: int) -> BarProfile:
    """``profile`` with ``blur`` (as it falls across the bars) divided out, resampled
    ``finer`` times more densely (band-limited: the spectrum is extended with zeros)."""
    values = profile.values
    size = values.size
    padded = np.pad(values, size, mode="edge")
    frequencies = np.fft.rfftfreq(padded.size).astype(np.float32)
    transfer = _transfer(np.square(frequencies), frequencies, blur, profile.stretch)
    spectrum = np.fft.rfft(padded) * transfer / (np.square(transfer) + blur.noise)
    dense = np.zeros(padded.size * finer // 2 + 1, np.complex128)
    dense[: spectrum.size] = spectrum
    restored = np.fft.irfft(dense, padded.size * finer) * finer
    middle = np.asarray(restored[size * finer : 2 * size * finer], np.float32)
    return replace(profile, values=middle, finer=profile.finer * finer)


def stretched(image: Gray) -> Gray:
    """``image`` stretched to the full 0-255 range between its outer percentiles."""
    low, high = _percentiles_u8(image)
    scale = 255.0 / max(high - low, 1.0)
    table = np.clip((np.arange(256, dtype=np.float32) - low) * scale, 0, 255)
    return np.asarray(cv2.LUT(image, table.astype(np.uint8)), np.uint8)


def _stretched_values(values: Floats) -> Gray:
    """:func:`stretched` for a profile (floats, a few thousand of them)."""
    low, high = (float(v) for v in np.percentile(values, STRETCH_PERCENTILES))
    scale = 255.0 / max(high - low, 1e-6)
    return np.asarray(np.clip((values - low) * scale, 0, 255), np.uint8)


def _percentiles_u8(image: Gray) -> tuple[float, float]:
    """:data:`STRETCH_PERCENTILES` of a uint8 image, from its histogram: sorting every
    pixel costs several times as much."""
    counts = cv2.calcHist([image], [0], None, [256], [0, 256]).ravel()
    cumulative = np.cumsum(counts) / max(float(counts.sum()), 1.0)
    low, high = (p / 100.0 for p in STRETCH_PERCENTILES)
    return float(np.searchsorted(cumulative, low)), float(np.searchsorted(cumulative, high))


def profile_image(profile: BarProfile, rows: int) -> tuple[Gray, Affine]:
    """A ``rows``-high image of ``profile`` for a scan-line decoder, and the map from its
    pixels to the frame's (its columns onto the cut-out's, its rows over the bars)."""
    image = np.repeat(_stretched_values(profile.values)[None, :], rows, axis=0)
    spread = (profile.bottom - profile.top) / max(rows - 1, 1)
    onto_cut = np.array(
        [[1.0 / profile.finer, 0.0, 0.0], [0.0, spread, profile.top], [0.0, 0.0, 1.0]]
    )
    return np.ascontiguousarray(image), profile.back @ onto_cut


@functools.lru_cache(maxsize=8)
def _wiener_kernel(blur: Blur) -> Floats:
    """The Wiener filter for ``blur`` as a :data:`KERNEL_PX` square, summing to one (so
    flat grey stays as it was)."""
    size = 4 * KERNEL_PX
    fy = np.fft.fftfreq(size).astype(np.float32)[:, None]
    fx = np.fft.fftfreq(size).astype(np.float32)[None, :]
    transfer = _transfer(np.square(fx) + np.square(fy), fx, blur, 1.0)
    response = np.fft.fftshift(np.fft.ifft2(transfer / (np.square(transfer) + blur.noise)).real)
    half, centre = KERNEL_PX // 2, size // 2
    kernel = response[centre - half : centre + half + 1, centre - half : centre + half + 1]
    return np.asarray(kernel / kernel.sum(), np.float32)


def deblurred(image: Gray, blur: Blur) -> Gray:
    """``image`` with ``blur`` divided out (a Wiener filter)."""
    restored = cv2.filter2D(image, cv2.CV_32F, _wiener_kernel(blur), borderType=cv2.BORDER_REFLECT)
    return np.asarray(np.clip(restored, 0, 255), np.uint8)
