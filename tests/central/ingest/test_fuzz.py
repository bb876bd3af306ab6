"""Coverage-guided fuzzing of the ingest on raw message bytes: a short, repeatable run.

``make fuzz`` runs the same target for minutes (``FUZZ_SECONDS``); this run, with a fixed
seed and a bounded number of inputs, keeps every change honest in CI. The rules each
input is checked against are in tests/fuzz/admission.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from linetrace.broker.contract.messages import parse_event
from tests.fuzz.admission import TOPIC_MODES, Admission, seed_inputs

ROOT = Path(__file__).resolve().parents[3]
# About five seconds on an idle machine (some 400 inputs a second, after a second or two
# of start-up); enough for libFuzzer to mutate every seed many times over.
RUNS = 2000
# Not a pace: only a bound on a fuzzer that hangs, far above the run's own length.
HANG_S = 600


def test_a_bounded_fuzz_run_breaks_no_rule(tmp_path: Path) -> None:
    command = [sys.executable, "-m", "tests.fuzz.ingest"]
    command += ["--corpus", str(tmp_path / "corpus"), "--state", str(tmp_path / "state")]
    command += [f"-runs={RUNS}", "-seed=1", f"-artifact_prefix={tmp_path}/"]
    run = subprocess.run(
        command, cwd=ROOT, capture_output=True, text=True, timeout=HANG_S, check=False
    )
    assert run.returncode == 0, run.stderr[-6000:]
    assert f"Done {RUNS} runs" in run.stderr
    assert not list(tmp_path.glob("crash-*"))
    # The seeds went in, and the fuzzer kept inputs that reached code they did not.
    corpus = list((tmp_path / "corpus").iterdir())
    assert len(corpus) > len(seed_inputs())


def test_the_seeds_are_real_contract_messages_and_pass_every_check(tmp_path: Path) -> None:
    seeds = seed_inputs()
    admission = Admission(tmp_path)
    for name, data in seeds.items():
        admission.run(data)
        if name.startswith(("read", "noread", "pack", "checked", "additive", "plain-text")):
            parse_event(data[1:].split(b"\n")[-1])
    assert {data[0] for data in seeds.values()} == set(range(len(TOPIC_MODES)))
