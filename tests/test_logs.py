"""The logging setup: text by default, one JSON object a line on request, followed by the
child processes of a service."""

from __future__ import annotations

import io
import json
import logging
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from linetrace.errors import ConfigError
from linetrace.logs import ENV_FORMAT, configure_logging, log_format
from linetrace.ports import free_port
from tests.conditions import wait_until

# Starting central (imports, migration, its two children) on a loaded machine.
START_S = 60.0
FIELDS = {"time", "level", "logger", "message", "process"}
COMMAND = [sys.executable, "-m", "linetrace"]


@pytest.fixture
def root_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[logging.Logger]:
    """The root logger, given back as it was (handlers, level) with the environment."""
    monkeypatch.delenv(ENV_FORMAT, raising=False)
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    try:
        yield root
    finally:
        for handler in root.handlers:
            if handler not in handlers:
                root.removeHandler(handler)
        for handler in handlers:
            if handler not in root.handlers:
                root.addHandler(handler)
        root.setLevel(level)


def test_json_lines_carry_time_level_logger_message_process_and_exception(
    root_logger: logging.Logger,
) -> None:
    out = io.StringIO()
    assert configure_logging("INFO", "json", stream=out) == "json"
    log = logging.getLogger("linetrace.test")
    log.info("stored %s events", 3, extra={"station": "hcm1/L1/pack-1"})
    try:
        raise ValueError("bad \u00e9vent")
    except ValueError:
        log.exception("write failed")
    log.debug("not at INFO")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert set(first) >= FIELDS
    assert first["level"] == "INFO"
    assert first["logger"] == "linetrace.test"
    assert first["message"] == "stored 3 events"
    assert first["process"] == os.getpid()
    assert first["station"] == "hcm1/L1/pack-1"
    assert "exception" not in first
    when = datetime.fromisoformat(first["time"])
    assert when.utcoffset() == UTC.utcoffset(None)
    assert abs((datetime.now(UTC) - when).total_seconds()) < 60
    assert second["level"] == "ERROR"
    assert "Traceback" in second["exception"]
    assert "ValueError: bad \u00e9vent" in second["exception"]
    assert os.environ[ENV_FORMAT] == "json"  # for the child processes


def test_text_is_the_default_and_the_environment_chooses_otherwise(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = io.StringIO()
    assert configure_logging(logging.INFO, stream=out) == "text"
    logging.getLogger("linetrace.test").warning("plain")
    assert out.getvalue().rstrip().endswith("WARNING linetrace.test: plain")
    monkeypatch.setenv(ENV_FORMAT, "json")
    assert log_format() == "json"
    assert log_format("text") == "text"  # the command line wins over the environment
    monkeypatch.setenv(ENV_FORMAT, "yaml")
    with pytest.raises(ConfigError, match=f"{ENV_FORMAT}: 'yaml' is not one of text, json"):
        log_format()


def test_an_unknown_format_in_the_environment_stops_the_command() -> None:
    env = {**os.environ, ENV_FORMAT: "yaml"}
    done = subprocess.run(
        [*COMMAND, "central", "events"],
        env=env,
        capture_output=True,
        text=True,
        timeout=START_S,
        check=False,
    )
    assert done.returncode == 2
    assert f"{ENV_FORMAT}: 'yaml' is not one of text, json" in done.stderr


def test_central_and_its_child_processes_log_json_lines(tmp_path: Path) -> None:
    """``central run --log-format json``: the service and its relay child, all JSON."""
    config = tmp_path / "central.toml"
    config.write_text(
        f'state_dir = "{tmp_path / "state"}"\n'
        f'[database]\nurl = "sqlite:///{tmp_path / "central.db"}"\n'
        f'[mqtt]\nhost = "127.0.0.1"\nport = {free_port()}\nclient_id = "central-logs"\n'
        f"[api]\nport = {free_port()}\n"
        f'[[relay.targets]]\nname = "portal"\nkind = "epcis"\n'
        f'url = "http://127.0.0.1:{free_port()}"\n'
    )
    log = tmp_path / "central.log"
    env = {key: value for key, value in os.environ.items() if key != ENV_FORMAT}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [*COMMAND, "--log-format", "json", "central", "run", "--config", str(config)],
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=out,
        )
    try:

        def relay_logged() -> bool:
            if process.poll() is not None:
                raise AssertionError(f"central exited:\n{log.read_text()}")
            return "sending to portal" in log.read_text()

        wait_until(relay_logged, START_S, "the relay child did not log")
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=START_S)
    # Every line is a JSON object but the verb's own words to the operator (the migration,
    # and the first admin's one-time password: a secret is not a log record to ship).
    said_to_the_operator = (" is at revision ", "with one-time password")
    lines = [
        line
        for line in log.read_text().splitlines()
        if not any(words in line for words in said_to_the_operator)
    ]
    records = [json.loads(line) for line in lines]
    assert all(set(record) >= FIELDS for record in records)
    relay = next(r for r in records if r["logger"] == "linetrace.central.relay.service")
    assert relay["process"] != process.pid  # written by the child itself
    assert any(r["process"] == process.pid for r in records)
    assert any(r["logger"] == "uvicorn.error" for r in records)
