"""The operators' web page: a live view of the scan events, served by central itself.

Plain HTML and a small script with no build step and nothing fetched from the internet,
so it works on a factory network with no way out.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter
from fastapi.responses import FileResponse
from fastapi.staticfiles import StaticFiles

__all__ = ["STATIC_DIR", "router", "static_files"]

STATIC_DIR = Path(__file__).with_name("static")

router = APIRouter(tags=["web"], include_in_schema=False)


@router.get("/")
def index() -> FileResponse:
    return FileResponse(STATIC_DIR / "index.html", media_type="text/html")


def static_files() -> StaticFiles:
    """The page's script and stylesheet, mounted at ``/static``."""
    return StaticFiles(directory=STATIC_DIR)
