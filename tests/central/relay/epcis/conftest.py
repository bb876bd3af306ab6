"""GS1's EPCIS reference material for these tests, found beside the repository.

``../shared/epcis`` (relative to the repository root) holds GS1's JSON Schema, the
standard's examples and the CBV event-hash vectors. Outside CI a missing folder skips the
tests that need it; in CI it fails them (the ``require`` policy).
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_FILE, load_schema

REPO_ROOT = Path(__file__).resolve().parents[4]
SHARED_EPCIS = REPO_ROOT.parent / "shared" / "epcis"


@pytest.fixture(scope="session")
def shared_epcis() -> Path:
    return SHARED_EPCIS


@pytest.fixture
def epcis_folder(require: Callable[[bool, str], None]) -> Path:
    """The reference folder; skips (fails in CI) when it is missing."""
    require(SHARED_EPCIS.is_dir(), f"GS1 EPCIS reference material missing: {SHARED_EPCIS}")
    return SHARED_EPCIS


@pytest.fixture
def epcis_schema(epcis_folder: Path, require: Callable[[bool, str], None]) -> dict[str, Any]:
    path = epcis_folder / "schema" / EPCIS_SCHEMA_FILE
    require(path.is_file(), f"GS1 EPCIS JSON Schema missing: {path}")
    return _schema(path)


_cache: dict[Path, dict[str, Any]] = {}


def _schema(path: Path) -> dict[str, Any]:
    # One parsed schema per session: the validator built from it is cached per object.
    if path not in _cache:
        _cache[path] = load_schema(path)
    return _cache[path]
