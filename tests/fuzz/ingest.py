"""Fuzz central's ingest on the raw bytes of MQTT messages, guided by coverage (atheris).

    python -m tests.fuzz.ingest [--corpus DIR] [--state DIR] [libFuzzer options]

e.g. ``-max_total_time=300`` (seconds), ``-runs=N`` (inputs), ``-seed=1`` (a repeatable
run). Each input goes through the checks of :mod:`tests.fuzz.admission`. The corpus
folder is seeded with inputs made from real contract messages (written, never committed)
and libFuzzer adds each input that reaches new code, so a later run starts where the last
left off. A broken rule stops the run with the traceback and writes the input as
``crash-<sha1>`` under ``-artifact_prefix``; ``python -m tests.fuzz.ingest FILE`` runs one
input again.

Only linetrace's own modules are instrumented: the coverage that guides is the admission
code's, not SQLAlchemy's or the standard library's.
"""

from __future__ import annotations

import argparse
import logging
import shutil
import sys
from pathlib import Path

import atheris
from atheris.import_hook import instrument_imports

__all__ = ["main"]

# Above the contract's 16 KiB limit on unknown fields, so inputs can cross it; far below
# its 64 KiB limit on a payload, a boundary one comparison decides and not worth the
# slower mutation of long inputs.
DEFAULT_MAX_LEN = 20_000


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="python -m tests.fuzz.ingest", description=__doc__)
    parser.add_argument("--corpus", type=Path, default=Path("build/fuzz/ingest/corpus"))
    parser.add_argument(
        "--state",
        type=Path,
        default=Path("build/fuzz/ingest/state"),
        help="the database folder, emptied at start",
    )
    args, fuzzer_args = parser.parse_known_args(argv[1:])
    with instrument_imports(include=["linetrace"]):
        from tests.fuzz.admission import Admission, dictionary, seed_inputs

    # The split of a refused batch and the dead letters log warnings on every input.
    logging.basicConfig(level=logging.ERROR)
    shutil.rmtree(args.state, ignore_errors=True)
    args.state.mkdir(parents=True)
    admission = Admission(args.state)
    if not any(arg.startswith("-max_len=") for arg in fuzzer_args):
        fuzzer_args.append(f"-max_len={DEFAULT_MAX_LEN}")
    if not any(arg.startswith("-dict=") for arg in fuzzer_args):
        tokens = args.state / "json.dict"
        tokens.write_text("".join(f'"{_escaped(token)}"\n' for token in dictionary()))
        fuzzer_args.append(f"-dict={tokens}")
    inputs = [arg for arg in fuzzer_args if not arg.startswith("-")]
    if not inputs:  # fuzzing, not re-running given inputs: start from the seeds
        args.corpus.mkdir(parents=True, exist_ok=True)
        for name, data in seed_inputs().items():
            (args.corpus / f"seed-{name}").write_bytes(data)
        fuzzer_args.append(str(args.corpus))
    atheris.Setup([argv[0], *fuzzer_args], admission.run)
    atheris.Fuzz()


def _escaped(token: str) -> str:
    """A token as a libFuzzer dictionary writes it: printable ASCII, the rest as \\xNN."""
    return "".join(
        chr(byte) if 32 <= byte < 127 and chr(byte) not in '"\\' else f"\\x{byte:02x}"
        for byte in token.encode()
    )


if __name__ == "__main__":
    main(sys.argv)
