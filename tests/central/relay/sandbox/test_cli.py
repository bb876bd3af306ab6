"""``linetrace portal sandbox`` as an operator runs it: a process that prints its URL."""

from __future__ import annotations

import queue
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

# Starting Python and importing uvicorn and starlette takes about a second; headroom.
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 15.0
_URL_LINE = re.compile(r"^sandbox (\S+) listening on (http://\S+)$")


@contextmanager
def sandbox_process(*args: str) -> Iterator[tuple[subprocess.Popen[str], str, list[str]]]:
    """The verb in a child process; yields it, its URL and the lines it printed so far."""
    command = [sys.executable, "-m", "linetrace.cli", "portal", "sandbox", *args]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines: queue.Queue[str] = queue.Queue()
    assert process.stdout is not None
    stdout = process.stdout

    def pump() -> None:
        for line in stdout:
            lines.put(line)

    threading.Thread(target=pump, daemon=True).start()
    seen: list[str] = []
    try:
        while True:
            line = lines.get(timeout=START_TIMEOUT_S).rstrip("\n")
            seen.append(line)
            if match := _URL_LINE.match(line):
                break
        url = match.group(2)
        while not seen[-1].startswith("  control:"):  # limits and schema come first
            seen.append(lines.get(timeout=START_TIMEOUT_S).rstrip("\n"))
        yield process, url, seen
    finally:
        if process.poll() is None:
            process.kill()
            process.wait(STOP_TIMEOUT_S)
        stdout.close()


def _served(url: str) -> httpx.Response:
    # The URL line comes before uvicorn listens: wait for the first answer.
    from tests.conditions import wait_until

    answers: list[httpx.Response] = []

    def answered() -> bool:
        try:
            answers.append(httpx.options(f"{url}/capture", timeout=1.0))
        except httpx.TransportError:
            return False
        return True

    wait_until(answered, START_TIMEOUT_S, "the sandbox never answered")
    return answers[-1]


@pytest.mark.parametrize("stop_with", [signal.SIGTERM, signal.SIGINT])
def test_the_verb_prints_its_url_and_limits_serves_and_stops_cleanly(
    schema_path: Path, stop_with: signal.Signals
) -> None:
    with sandbox_process("--profile", "epcis-sync", "--schema", str(schema_path)) as (
        process,
        url,
        lines,
    ):
        assert url.startswith("http://127.0.0.1:")
        assert "  GS1-EPCIS-Capture-File-SizeLimit: 20000" in lines
        assert any(line.startswith(f"  schema: {schema_path} (") for line in lines)
        answer = _served(url)
        assert answer.headers["GS1-EPCIS-Capture-Limit"] == "499"
        process.send_signal(stop_with)
        assert process.wait(STOP_TIMEOUT_S) == 0


def test_the_verb_without_a_schema_says_so_and_takes_faults(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("LINETRACE_EPCIS_SCHEMA", raising=False)
    with sandbox_process(
        "--profile", "epcis-async", "--faults", '{"fail_next": 1, "fail_status": 500}'
    ) as (process, url, lines):
        assert any("schema: NONE" in line for line in lines)
        assert _served(url).status_code == 500  # the one failure ordered at start
        assert httpx.get(f"{url}/_sandbox/stats").json()["schema"] is None
        process.send_signal(signal.SIGTERM)
        assert process.wait(STOP_TIMEOUT_S) == 0


def test_a_bad_fault_plan_is_refused_with_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "linetrace.cli", "portal", "sandbox", "--profile", "epcis-async",
         "--faults", '{"nope": 1}'],
        capture_output=True, text=True, timeout=START_TIMEOUT_S, check=False,
    )  # fmt: skip
    assert done.returncode == 2
    assert "nope" in done.stderr


def test_building_the_parser_imports_no_server_code() -> None:
    heavy = ["starlette", "uvicorn", "httpx", "jsonschema", "jsonschema_rs"]
    probe = (
        "import sys; from linetrace.cli import build_parser; build_parser(); "
        f"print(sorted({{m.split('.')[0] for m in sys.modules}} & set({heavy!r})))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "[]"
