"""The ``[pipeline]`` settings section: how a station reads frames and groups the reads.

Most keys say how one frame is read (backend, formats, locate, enhance, restore, roi,
scale); a few say how reads become item passages along the belt (window_s,
linear_confirmations, track_reads, skip_still). They stay one section, as the station's
TOML file has them. The module imports nothing heavy, so the edge's configuration can be
loaded and checked without OpenCV or a decoder.
"""

from __future__ import annotations

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from linetrace.edge.vision.formats import DEFAULT_FORMATS, FORMATS, Backend, check_formats
from linetrace.settings import Section

__all__ = [
    "DEFAULT_DENSITY",
    "DEFAULT_LINEAR_CONFIRMATIONS",
    "DEFAULT_WINDOW_S",
    "PipelineConfig",
]

# Mean |dx| + |dy| (Sobel, saturated at 255) over a cell above which it counts as code-like:
# a symbol's cells average 150-250 even under the dim corner of uneven light, cardboard,
# belt and sensor noise stay under 40, a label's printed captions fall between.
DEFAULT_DENSITY = 90

# Longer than a label's usual dropout (a few frames of glare or blur at 25-30 fps is
# 0.1-0.3 s) and shorter than the gap between two items on a line running 2-4 items/s,
# so a flicker does not split one item and two items with the same code stay apart.
DEFAULT_WINDOW_S = 0.5
# One frame's read of a linear code can be a misread whose check digit fits by chance (one
# time in ten for EAN-13); two frames agreeing make that vanishingly rare, and every label
# on a belt is in view for many more frames than two.
DEFAULT_LINEAR_CONFIRMATIONS = 2


class PipelineConfig(Section):
    """How a station decodes and groups reads."""

    model_config = ConfigDict(frozen=True)

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
        "frames faster (whole-frame decoding only).",
    )
    locate: bool = Field(
        default=True,
        description="Find code-like regions first and decode each one cut out (linear codes "
        "turned upright); needed for no-reads. Off: decode the whole frame, as a plain "
        "decoder loop does.",
    )
    enhance: bool = Field(
        default=True,
        description="Try a located region that did not decode once more, magnified and "
        "sharpened: reads thin, blurred modules at the cost of a second try on failures.",
    )
    restore: bool = Field(
        default=True,
        description="Try a located region that neither the plain nor the enhanced try read "
        "once more with the blur divided out (a linear code's bars averaged along their "
        "length first): reads the thinnest, most blurred modules, at the cost of a few more "
        "tries on regions that never decode.",
    )
    stack: bool = Field(
        default=True,
        description="Combine the last few views of a located 2D symbol that no frame has "
        "read yet (aligned and averaged, which quiets noise and compression) and decode "
        "that: reads worn Data Matrix and QR codes no single frame can, at a few decoder "
        "calls per such symbol every other frame.",
    )
    track_reads: bool = Field(
        default=True,
        description="Do not decode again a label already read in its passage (a linear one "
        "once confirmed): follow it along the belt and only look for new ones.",
    )
    skip_still: bool = Field(
        default=True,
        description="Skip decoding frames that have not changed since the last decoded one "
        "(a stopped line); their reads carry over, and a linear code read just before is "
        "confirmed by independent second reads of that frame instead.",
    )
    linear_confirmations: int = Field(
        default=DEFAULT_LINEAR_CONFIRMATIONS,
        ge=1,
        le=10,
        description="Reads that must agree on a linear code (GS1-128, EAN-13, Code 128, "
        "...) before its passage counts: frames, or, where no other frame can read it (a "
        "still scene, a single photo), independent second decoders (zbar, zxing-cpp with "
        "another binarizer, the symbol's bands read apart) on the same view; a passage read "
        "fewer times is dropped as unconfirmed. A passage decoded in one frame only on a "
        "moving line gets one more agreeing read when at least 3 bands (rows) of its view "
        "there, read apart, read the same code and none reads another, or when it is a "
        "GS1-128 whose SSCC or GTIN check digit verifies (two checks, the symbol's and "
        "the key's, passed).",
    )
    roi: tuple[int, int, int, int] | None = Field(
        default=None,
        description="Region of interest in frame pixels as [x, y, width, height]: only this "
        "part of each frame is searched. Default: the whole frame.",
    )
    scale: float = Field(
        default=1.0,
        gt=0.0,
        le=4.0,
        description="Resize factor applied before locating and decoding: below 1 for large "
        "frames with large codes (faster), above 1 for codes with modules under ~1.5 px.",
    )
    locator_density: int = Field(
        default=DEFAULT_DENSITY,
        ge=1,
        le=254,
        description="Edge density (0-255) above which an area counts as code-like to the "
        "locator; lower finds fainter codes and more clutter.",
    )

    @field_validator("roi")
    @classmethod
    def _roi_positive(
        cls, roi: tuple[int, int, int, int] | None
    ) -> tuple[int, int, int, int] | None:
        if roi is not None and (roi[0] < 0 or roi[1] < 0 or roi[2] < 1 or roi[3] < 1):
            raise ValueError("roi is [x, y, width, height] with x, y >= 0 and a size >= 1")
        return roi

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
