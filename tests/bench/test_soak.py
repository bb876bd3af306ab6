"""bench/soak.py, a few seconds at a low rate: the real broker, central and stations."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
# Starting the broker and central (three interpreters, a migration) on a loaded machine,
# the run itself, its drain and central's stop.
RUN_TIMEOUT_S = 240
SHORT = ["--duration", "3", "--rate", "40", "--stations", "2", "--sample", "1", "--drain", "60"]


@pytest.mark.system
def test_a_short_soak_loses_nothing_and_doubles_nothing(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "soak.py"), *SHORT, "--workdir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
        check=False,
        cwd=ROOT,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 0, output
    assert "events: 120 published" in output, output
    assert "120 stored; lost 0, doubled 0; 0 never confirmed" in output, output
    assert "central stopped with status 0" in output, output
    assert "memory central, first window -> last" in output, output
    assert "soak: ok" in output, output
