"""bench/edge_photos.py on a few real photographs, and the photo set's manifest and licences."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = ROOT / "bench" / "photos"
# The symbologies a line reads, and photos with no code at all.
SYMBOLOGIES = {
    "GS1 DataMatrix",
    "DataMatrix",
    "QRCode",
    "GS1-128",
    "Code128",
    "EAN13",
    "UPCA",
    "EAN8",
    "none",
}
MAX_SET_BYTES = 8 * 1024 * 1024
# One scanner start per photo (nine photos) and one still video, on a loaded machine.
RUN_TIMEOUT_S = 180


def manifest() -> list[dict[str, str | None]]:
    entries: list[dict[str, str | None]] = json.loads(
        (PHOTOS / "manifest.json").read_text(encoding="utf-8")
    )["photos"]
    return entries


def test_every_photo_has_its_file_symbology_and_expected_text() -> None:
    entries = manifest()
    assert {e["symbology"] for e in entries} == SYMBOLOGIES
    for entry in entries:
        assert (PHOTOS / str(entry["file"])).is_file(), entry
        assert (entry["expected"] is None) == (entry["symbology"] == "none"), entry
    assert len({e["file"] for e in entries}) == len(entries)


def test_the_set_carries_its_licences_and_stays_small() -> None:
    notice = (PHOTOS / "NOTICE.md").read_text(encoding="utf-8")
    for source in {str(e["file"]).split("/")[0] for e in manifest()}:
        assert f"`{source}/`" in notice, source
    assert (PHOTOS / "LICENSES" / "Apache-2.0.txt").is_file()
    assert (PHOTOS / "LICENSES" / "MIT-quagga2.txt").is_file()
    size = sum(path.stat().st_size for path in PHOTOS.rglob("*") if path.is_file())
    assert size < MAX_SET_BYTES


@pytest.mark.system
def test_the_benchmark_scores_one_photo_per_symbology(tmp_path: Path) -> None:
    figures = tmp_path / "figures.json"
    options = ["--limit", "1", "--workers", "1", "--json", str(figures)]
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "edge_photos.py"), *options],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "9 photos" in output, output
    assert "goal (" in output, output
    rows = {row["symbology"]: row for row in json.loads(figures.read_text())["rows"]}
    assert set(rows) == SYMBOLOGIES
    assert all(row["photos"] == 1 for row in rows.values())
    # 2D symbols are read from one image and from a held item alike.
    for name in ("DataMatrix", "QRCode"):
        assert rows[name]["scan_single"][0] == 1, output
        assert rows[name]["scan_still"][0] == 1, output
