"""Run mypy over the package as it is imported, with errors reported at the real files.

The top-level edge/, broker/ and central/ folders are imported as ``linetrace.edge`` and
so on (setup.py maps them). mypy derives a module's name from its path and cannot follow
that mapping, so this script lays out the import tree in ``build/typecheck`` as links to
the real files and folders, runs mypy there with the project's settings, and rewrites each
reported path back to the file in the checkout. The links live only in ``build/`` (ignored
by git and every other tool), never in the checkout.

    python scripts/typecheck.py [mypy arguments]
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
# Helpers running side by side may each name their own view and cache.
VIEW = ROOT / os.environ.get("LINETRACE_TYPECHECK_VIEW", "build/typecheck")
CACHE = ROOT / os.environ.get("MYPY_CACHE_DIR", ".mypy_cache")
# Import name -> folder in the checkout; the same mapping as setup.py.
PARTS = {"edge": "edge", "broker": "broker", "central": "central"}
# Folders checked beside the package: they import it, and are their own roots.
BESIDE = ("tests", "bench")


def build_view() -> None:
    """``build/typecheck/linetrace/{…, edge, broker, central}`` plus tests/ and bench/."""
    shutil.rmtree(VIEW, ignore_errors=True)
    package = VIEW / "linetrace"
    package.mkdir(parents=True)
    for entry in (ROOT / "linetrace").iterdir():
        if entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for name, folder in PARTS.items():
        (package / name).symlink_to(ROOT / folder, target_is_directory=True)
    for folder in BESIDE:
        (VIEW / folder).symlink_to(ROOT / folder, target_is_directory=True)


def real_path(match: re.Match[str]) -> str:
    path = match.group(0)
    for name, folder in PARTS.items():
        prefix = f"linetrace/{name}/"
        if path.startswith(prefix):
            return folder + "/" + path[len(prefix) :]
    return path


def main(argv: list[str]) -> int:
    build_view()
    command = [sys.executable, "-m", "mypy", "--config-file", str(ROOT / "pyproject.toml")]
    command += ["--cache-dir", str(CACHE), *argv]
    if not any(not arg.startswith("-") for arg in argv):
        command += ["linetrace", *BESIDE]
    result = subprocess.run(  # noqa: S603 - mypy with our own arguments, no shell
        command, cwd=VIEW, capture_output=True, text=True, check=False, env=os.environ
    )
    pattern = re.compile(r"^linetrace/\w+/[^:\s]*", re.MULTILINE)
    sys.stdout.write(pattern.sub(real_path, result.stdout))
    sys.stderr.write(result.stderr)
    return result.returncode


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
