"""``linetrace broker ...``: what scripts see on stdout, exit codes, and a live reload."""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import pytest

from linetrace.broker import cli
from linetrace.broker.contract.messages import SCHEMA_PATH
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import BrokerDir, Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from tests.broker.mqtt_probe import ACCEPTED, SUCCESS, Probe


def broker_verb(*argv: str | Path) -> int:
    """Run one ``linetrace broker`` verb the way the top-level command does."""
    parser = argparse.ArgumentParser(prog="linetrace")
    cli.register(parser.add_subparsers(dest="part", required=True))
    args = parser.parse_args(["broker", *map(str, argv)])
    code: int = args.handler(args)
    return code


def printed_credentials(capsys: pytest.CaptureFixture[str]) -> Credentials:
    return Credentials.model_validate_json(capsys.readouterr().out)


def test_init_then_add_station_prints_its_credentials_as_json(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert broker_verb("init", tmp_path, "--port", "2883") == 0
    assert "listener 2883 127.0.0.1" in BrokerDir(tmp_path).conf.read_text()
    assert broker_verb("add-station", tmp_path, "hcm/line1/st1") == 0
    first = printed_credentials(capsys)
    assert first.username == "hcm/line1/st1"
    assert broker_verb("add-station", tmp_path, "hcm/line1/st1") == 0
    assert printed_credentials(capsys) == first
    assert broker_verb("add-station", tmp_path, "hcm/line1/st1", "--rotate") == 0
    assert printed_credentials(capsys).password != first.password


def test_add_service_takes_a_role(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broker_verb("init", tmp_path)
    assert broker_verb("add-service", tmp_path, "dash", "--role", "monitor") == 0
    printed = json.loads(capsys.readouterr().out)
    assert (printed["username"], printed["role"]) == ("dash", "monitor")


def test_bad_station_id_fails_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    broker_verb("init", tmp_path)
    with caplog.at_level(logging.ERROR):
        assert broker_verb("add-station", tmp_path, "hcm/line+1/st1") == 1
    assert "not a valid id part" in caplog.text
    assert capsys.readouterr().out == ""


def test_partial_tls_options_are_refused(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert broker_verb("init", tmp_path, "--tls-ca", tmp_path / "ca.pem") == 2
    assert "--tls-cert" in caplog.text


def test_run_without_init_says_what_to_do(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR):
        assert broker_verb("run", tmp_path) == 1
    assert "linetrace broker init" in caplog.text


def test_add_station_reloads_the_running_broker(
    mqtt_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    assert broker_verb("add-station", mqtt_broker.directory, "hcm/line1/st9") == 0
    credentials = printed_credentials(capsys)
    station = StationId.parse(credentials.username)
    deadline = time.monotonic() + 5
    while True:
        with Probe(mqtt_broker.host, mqtt_broker.port, credentials) as client:
            if client.connect() == SUCCESS:
                assert client.publish(topic(station, Channel.EVENTS), b"e") in ACCEPTED
                break
        assert time.monotonic() < deadline, "the running broker never took the new station"
        time.sleep(0.05)


def test_schema_check_passes_on_the_committed_file() -> None:
    assert broker_verb("schema", "--check") == 0


def test_schema_check_fails_on_a_stale_file_and_schema_rewrites_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    stale = tmp_path / "scan-event.v1.json"
    stale.write_text(SCHEMA_PATH.read_text().replace('"frames"', '"frame_count"'))
    assert broker_verb("schema", "--check", "--file", stale) == 1
    assert "linetrace broker schema" in capsys.readouterr().err
    assert broker_verb("schema", "--file", stale) == 0
    assert stale.read_text() == SCHEMA_PATH.read_text()
    assert broker_verb("schema", "--check", "--file", stale) == 0
