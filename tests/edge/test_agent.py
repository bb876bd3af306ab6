"""The agent end to end: synthetic conveyor video -> pipeline -> outbox -> real Mosquitto."""

from __future__ import annotations

import io
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w

from linetrace.broker.mosquitto import Credentials
from linetrace.broker.topics import StationId
from linetrace.edge.agent import AgentSummary, run_agent
from linetrace.edge.config import ENV_PREFIX, EdgeConfig
from linetrace.edge.gs1 import to_hri
from linetrace.edge.outbox import Outbox
from linetrace.edge.preflight import run_checks
from linetrace.synth.conveyor import ConveyorSpec, Truth, write_conveyor
from tests.conftest import Broker
from tests.edge.event_sink import EventSink

STATION = StationId("hcm1", "L1", "pack-1")
# Generous for a loaded two-core box: the video scans in about 1.5 s.
RUN_TIMEOUT_S = 60.0


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in os.environ:
        if name.upper().startswith(ENV_PREFIX):
            monkeypatch.delenv(name)


@pytest.fixture(scope="module")
def conveyor(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Truth]:
    """Ten seconds of a small clean conveyor video with 20 items, made once per module."""
    video = tmp_path_factory.mktemp("conveyor") / "conveyor.mp4"
    spec = ConveyorSpec(
        items=20,
        fps=30.0,
        width=640,
        height=360,
        items_per_second=2.0,
        seed=1,
        degradation="none",
    )
    return video, write_conveyor(video, spec)


def readable_texts(truth: Truth) -> Counter[str]:
    return Counter(item.text for item in truth.items if item.readable)


def settings(
    broker: Broker,
    credentials: Credentials,
    video: Path,
    outbox_path: Path,
    **sections: dict[str, Any],
) -> dict[str, Any]:
    document: dict[str, Any] = {
        "station": {"site": "hcm1", "line": "L1", "station": "pack-1", "utc_offset": "+07:00"},
        "source": {"spec": str(video)},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "username": credentials.username,
            "password": credentials.password,
            "keepalive": 5,
        },
        "outbox": {"path": str(outbox_path)},
    }
    for name, values in sections.items():
        document[name] = {**document[name], **values}
    return document


@pytest.fixture
def sink(mqtt_broker: Broker) -> Iterator[EventSink]:
    with EventSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink:
        yield sink


def test_every_readable_item_arrives_once(
    mqtt_broker: Broker, sink: EventSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, truth = conveyor
    credentials = mqtt_broker.station(str(STATION))
    config = EdgeConfig.model_validate(
        settings(mqtt_broker, credentials, video, tmp_path / "outbox.db")
    )
    summary = run_agent(config, threading.Event())
    wanted = readable_texts(truth)
    events = sink.wait_for_events(sum(wanted.values()))
    events = sink.quiet_for(0.3)  # a duplicate would arrive in this time
    assert len(events) == len(sink.event_ids()) == sum(wanted.values())
    assert Counter(to_hri(e.symbology_id, e.text or "") for e in events) == wanted
    assert sorted(event.seq for event in events) == list(range(1, len(events) + 1))
    assert {event.observed_at.utcoffset() for event in events} == {timedelta(hours=7)}
    assert summary.stored == len(events) and summary.lost == 0 and summary.invalid == 0
    assert summary.left_in_outbox == 0 and summary.stopped_by == "end of source"
    assert summary.frames == truth.frames


def test_what_a_stop_leaves_unsent_goes_out_on_the_next_start(
    mqtt_broker: Broker, sink: EventSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, truth = conveyor
    document = settings(mqtt_broker, mqtt_broker.station(str(STATION)), video, tmp_path / "o.db")
    config = EdgeConfig.model_validate(document)
    items = sum(readable_texts(truth).values())
    mqtt_broker.stop()
    offline = run_agent(config, threading.Event(), flush_grace_s=0.3)
    assert (offline.stored, offline.acknowledged, offline.left_in_outbox) == (items, 0, items)

    mqtt_broker.start()
    sink.wait_subscribed(2)  # Mosquitto 2.0 forgets the subscriber's session on restart
    online = run_agent(config, threading.Event())
    events = sink.wait_for_events(2 * items)
    assert online.left_in_outbox == 0
    assert online.first_seq == items + 1
    assert len(sink.event_ids()) == 2 * items
    assert sorted({event.seq for event in events}) == list(range(1, 2 * items + 1))


def test_a_full_outbox_loses_new_events_loudly_and_keeps_the_old(
    mqtt_broker: Broker,
    conveyor: tuple[Path, Truth],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    video, truth = conveyor
    document = settings(
        mqtt_broker,
        mqtt_broker.station(str(STATION)),
        video,
        tmp_path / "o.db",
        outbox={"capacity": 5},
    )
    mqtt_broker.stop()
    summary = run_agent(EdgeConfig.model_validate(document), threading.Event(), flush_grace_s=0.2)
    items = sum(readable_texts(truth).values())
    assert (summary.stored, summary.lost, summary.left_in_outbox) == (5, items - 5, 5)
    lost_lines = [r.getMessage() for r in caplog.records if r.getMessage().startswith("LOST")]
    assert len(lost_lines) == items - 5
    with Outbox(tmp_path / "o.db", STATION) as outbox:
        assert [seq for seq, _ in outbox.pending(10)] == [1, 2, 3, 4, 5]


def test_a_stop_request_ends_a_looping_source_with_nothing_lost(
    mqtt_broker: Broker, sink: EventSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, truth = conveyor
    document = settings(
        mqtt_broker,
        mqtt_broker.station(str(STATION)),
        video,
        tmp_path / "o.db",
        source={"loop": True},
    )
    stop = threading.Event()
    result: list[AgentSummary] = []
    agent = threading.Thread(
        target=lambda: result.append(run_agent(EdgeConfig.model_validate(document), stop))
    )
    agent.start()
    items = sum(readable_texts(truth).values())
    sink.wait_for_events(items + 3, timeout=RUN_TIMEOUT_S)  # into the second pass
    stop.set()
    agent.join(RUN_TIMEOUT_S)
    assert not agent.is_alive()
    [summary] = result
    sink.wait_for_events(summary.stored)
    assert summary.stopped_by == "stop request"
    assert summary.stored > items and summary.left_in_outbox == 0
    assert len(sink.event_ids()) == summary.stored
    assert sorted({event.seq for event in sink.events}) == list(range(1, summary.stored + 1))


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(document))
    return path


def test_the_run_verb_stops_cleanly_on_sigterm(
    mqtt_broker: Broker, sink: EventSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, _ = conveyor
    credentials = mqtt_broker.station(str(STATION))
    document = settings(mqtt_broker, credentials, video, tmp_path / "o.db", source={"loop": True})
    del document["mqtt"]["password"]  # secrets come from the environment
    config = write_config(tmp_path / "edge.toml", document)
    agent = subprocess.Popen(
        [sys.executable, "-m", "linetrace", "edge", "run", "--config", str(config)],
        env={**os.environ, "LINETRACE_EDGE_MQTT__PASSWORD": credentials.password},
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while len(sink.event_ids()) < 5 and agent.poll() is None:
            assert time.monotonic() < deadline, "the agent published nothing"
            sink.wait_for_events(5, timeout=0.2)
        if agent.poll() is not None:
            pytest.fail(f"the agent exited before it was told to stop:\n{agent.communicate()[1]}")
        agent.send_signal(signal.SIGTERM)
        _, log = agent.communicate(timeout=RUN_TIMEOUT_S)
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.communicate()
    assert agent.returncode == 0, log
    assert "agent stopped (stop request)" in log
    with Outbox(tmp_path / "o.db", STATION) as outbox:
        assert outbox.depth() == 0
        last = outbox.last_seq
    sink.wait_for_events(last)
    assert sorted({event.seq for event in sink.events}) == list(range(1, last + 1))


def test_check_passes_when_everything_is_in_place(
    mqtt_broker: Broker, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    document = settings(
        mqtt_broker, mqtt_broker.station(str(STATION)), conveyor[0], tmp_path / "o.db"
    )
    out = io.StringIO()
    assert run_checks(write_config(tmp_path / "edge.toml", document), out) == 0
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["config", "ok"],
        ["source", "ok"],
        ["outbox", "ok"],
        ["broker", "ok"],
    ]
    assert "640x360" in lines[1]


def test_check_names_each_failure(mqtt_broker: Broker, tmp_path: Path) -> None:
    credentials = mqtt_broker.station(str(STATION))
    wrong = credentials.model_copy(update={"password": "not-it"})
    document = settings(mqtt_broker, wrong, tmp_path / "absent.mp4", tmp_path / "o.db")
    out = io.StringIO()
    assert run_checks(write_config(tmp_path / "edge.toml", document), out) == 1
    lines = out.getvalue().splitlines()
    assert [line.split()[:2] for line in lines] == [
        ["config", "ok"],
        ["source", "FAILED"],
        ["outbox", "ok"],
        ["broker", "FAILED"],
    ]
    assert "no such file or folder" in lines[1]
    assert "refused user 'hcm1/L1/pack-1'" in lines[3]


def test_check_stops_at_an_invalid_config(tmp_path: Path) -> None:
    config = tmp_path / "edge.toml"
    config.write_text('[station]\nsite = "s"\nline = "l"\nstation = "x"\n[mqtt]\nport = 0\n')
    out = io.StringIO()
    assert run_checks(config, out) == 1
    text = out.getvalue()
    assert text.startswith("config  FAILED")
    assert "mqtt.port: Input should be greater than or equal to 1" in text
    assert "source: Field required" in text
    assert "not checked" in text
