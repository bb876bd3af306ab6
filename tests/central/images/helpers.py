"""No-read events with pictures, for the image tests."""

from __future__ import annotations

import base64
import io
from datetime import datetime
from typing import Any

from PIL import Image

from linetrace.broker.contract.messages import ScanEvent
from tests.central.helpers import make_event


def jpeg(shade: int = 128, size: tuple[int, int] = (64, 48)) -> bytes:
    """A real JPEG of one grey with a dark bar (different shades, different bytes)."""
    image = Image.new("L", size, shade)
    for x in range(size[0] // 3, size[0] // 2):
        for y in range(size[1]):
            image.putpixel((x, y), 20)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def noread(
    seq: int, picture: bytes | None = None, *, observed_at: datetime | None = None, **extra: Any
) -> ScanEvent:
    """A no-read carrying ``picture`` (a JPEG by default) as its base64 snapshot."""
    data = jpeg() if picture is None else picture
    return make_event(
        seq,
        kind="noread",
        observed_at=observed_at,
        snapshot=base64.b64encode(data).decode("ascii"),
        **extra,
    )
