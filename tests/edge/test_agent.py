"""The agent end to end: synthetic conveyor video -> pipeline -> outbox -> real Mosquitto."""

from __future__ import annotations

import io
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from linetrace.broker.contract.messages import BatchAnnouncement, EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.agent import AgentSummary, run_agent
from linetrace.edge.cli.check import run_checks
from linetrace.edge.config import ENV_PREFIX, EdgeConfig
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.line.checks import CHECK_BATCH_GTIN, CHECK_BATCH_LOT, CHECK_EXPIRY
from linetrace.edge.line.gs1 import to_hri
from linetrace.ports import free_port
from linetrace.synth.conveyor import ConveyorSpec, Truth, write_conveyor
from tests.edge.delivery.acking_sink import AckingSink

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
    broker: LocalBroker,
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
            "keepalive_s": 5,
        },
        "outbox": {"path": str(outbox_path)},
    }
    for name, values in sections.items():
        document[name] = {**document[name], **values}
    return document


@pytest.fixture
def sink(mqtt_broker: LocalBroker) -> Iterator[AckingSink]:
    with AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink:
        yield sink


def test_every_readable_item_arrives_once(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
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
    assert summary.stored == len(events)
    assert summary.lost == 0
    assert summary.invalid == 0
    assert summary.left_in_outbox == 0
    assert summary.stopped_by == "end of source"
    assert summary.frames == truth.frames


def test_what_a_stop_leaves_unsent_goes_out_on_the_next_start(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
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
    mqtt_broker: LocalBroker,
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
    alarms = [r.getMessage() for r in caplog.records if "alarm at 80%" in r.getMessage()]
    assert len(alarms) == 1
    assert "is 80% full (4 of 5 events" in alarms[0]
    with Outbox(tmp_path / "o.db", STATION) as outbox:
        assert [seq for seq, _ in outbox.pending(10)] == [1, 2, 3, 4, 5]


def test_a_stop_request_ends_a_looping_source_with_nothing_lost(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
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
    assert summary.stored > items
    assert summary.left_in_outbox == 0
    assert len(sink.event_ids()) == summary.stored
    assert sorted({event.seq for event in sink.events}) == list(range(1, summary.stored + 1))


def write_config(path: Path, document: dict[str, Any]) -> Path:
    path.write_text(tomli_w.dumps(document))
    return path


def test_the_run_verb_stops_cleanly_on_sigterm(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
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
    mqtt_broker: LocalBroker, conveyor: tuple[Path, Truth], tmp_path: Path
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
        ["central", "ok"],
        ["metrics", "ok"],
    ]
    assert "640x360" in lines[1]
    assert "has confirmed no event of this station yet; no batch announced" in lines[4]
    assert "off (metrics.port is unset)" in lines[5]


def test_check_names_each_failure(mqtt_broker: LocalBroker, tmp_path: Path) -> None:
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
        ["central", "FAILED"],
        ["metrics", "ok"],
    ]
    assert "no such file or folder" in lines[1]
    assert "refused user 'hcm1/L1/pack-1'" in lines[3]
    assert "not checked without a broker login" in lines[4]


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


def test_reads_are_checked_against_the_batch_and_published_either_way(
    mqtt_broker: LocalBroker,
    sink: AckingSink,
    conveyor: tuple[Path, Truth],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    video, truth = conveyor
    [product] = [i.gs1 for i in truth.items if i.symbology == "gs1-datamatrix" and i.gs1][:1]
    batch = BatchAnnouncement(
        batch_id="B-7",
        gtin=product["01"],
        lot=product["10"],
        started_at=datetime(2026, 3, 1, tzinfo=UTC),
    )
    sink.publish_batch(STATION, batch)  # retained: the agent hears it when it connects
    document = settings(mqtt_broker, mqtt_broker.station(str(STATION)), video, tmp_path / "o.db")
    summary = run_agent(EdgeConfig.model_validate(document), threading.Event())
    events = sink.wait_for_events(summary.stored)
    product_events = [e for e in events if e.gs1 and ({"01", "02"} & e.gs1.keys())]
    assert product_events
    mismatched = 0
    for event in product_events:
        assert event.gs1 is not None
        gtin = event.gs1.get("01") or event.gs1.get("02")
        assert event.checks[CHECK_BATCH_GTIN].passed is (gtin == batch.gtin)
        if "10" in event.gs1:
            assert event.checks[CHECK_BATCH_LOT].passed is (event.gs1["10"] == batch.lot)
        if "17" in event.gs1:
            assert CHECK_EXPIRY in event.checks
        mismatched += not all(check.passed for check in event.checks.values())
    assert 0 < mismatched < len(product_events)  # some are the batch's, some are not
    assert summary.mismatches == mismatched
    warnings = [r.getMessage() for r in caplog.records if r.getMessage().startswith("MISMATCH")]
    assert len(warnings) == mismatched
    assert any(f"is not batch B-7's GTIN {batch.gtin}" in w for w in warnings)


def test_codes_seen_with_an_sscc_are_packed_at_a_packing_station(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    # The generator puts one code on each box, so here the boxes riding next to an SSCC
    # box stand in for the cases it holds: the time rule alone makes them its children.
    video, truth = conveyor
    credentials = mqtt_broker.station(str(STATION))
    document = settings(mqtt_broker, credentials, video, tmp_path / "o.db")
    summary = run_agent(EdgeConfig.model_validate(document), threading.Event())
    events = sink.wait_for_events(summary.stored)
    packs = [event for event in events if event.kind is EventKind.PACK]
    reads = {event.text for event in events if event.kind is EventKind.READ}
    ssccs = {item.gs1["00"] for item in truth.items if item.gs1 and "00" in item.gs1}
    assert packs
    assert summary.packs == len(packs)
    for pack in packs:
        assert pack.gs1 is not None
        assert pack.gs1["00"] in ssccs
        assert pack.children
        assert {child.text for child in pack.children} <= reads  # children are reads too
        assert all(not child.gs1 or "00" not in child.gs1 for child in pack.children)

    labeller = mqtt_broker.station("hcm1/L1/label-1")
    labelling = settings(
        mqtt_broker,
        labeller,
        video,
        tmp_path / "l.db",
        station={"station": "label-1", "role": "labelling"},
    )
    again = run_agent(EdgeConfig.model_validate(labelling), threading.Event())
    later = sink.wait_for_events(summary.stored + again.stored)[len(events) :]
    assert later
    assert all(event.kind is EventKind.READ for event in later)
    assert again.packs == 0


def test_status_and_metrics_report_the_running_station(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, _ = conveyor
    metrics_port = free_port()
    document = settings(
        mqtt_broker,
        mqtt_broker.station(str(STATION)),
        video,
        tmp_path / "o.db",
        source={"loop": True, "realtime": True},
    )
    document["status"] = {"interval_s": 1.0}
    document["metrics"] = {"port": metrics_port}
    stop = threading.Event()
    result: list[AgentSummary] = []
    agent = threading.Thread(
        target=lambda: result.append(run_agent(EdgeConfig.model_validate(document), stop))
    )
    agent.start()
    try:
        sink.wait_for_events(3, timeout=RUN_TIMEOUT_S)
        deadline = time.monotonic() + RUN_TIMEOUT_S
        while not [s for s in sink.statuses if s.metrics.get("covered", 0) >= 3]:
            assert time.monotonic() < deadline, sink.statuses
            time.sleep(0.1)
        scraped = scrape(metrics_port)
    finally:
        stop.set()
        agent.join(RUN_TIMEOUT_S)
    status = next(s for s in sink.statuses if s.metrics.get("covered", 0) >= 3)
    metrics = status.metrics
    assert status.state == "online"
    assert 20.0 < metrics["fps_captured"] < 40.0  # a 30 fps file played in real time
    assert metrics["fps_decoded"] > 0
    assert metrics["decode_ms_p99"] >= metrics["decode_ms_p50"]
    assert 0.0 <= metrics["read_rate"] <= 1.0
    assert metrics["reads"] >= 3
    assert metrics["watermark"] >= 3
    assert metrics["connected"] == 1.0
    assert {"outbox_depth", "outbox_alarm", "dropped_frames", "mismatches"} <= metrics.keys()
    assert scraped["linetrace_edge_reads_total"] >= 3
    assert scraped["linetrace_edge_watermark"] >= 3
    assert scraped["linetrace_edge_connected"] == 1.0
    offline = sink.wait_for_status("offline")
    assert offline.metrics["stored"] == result[0].stored


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        families = text_string_to_metric_families(response.read().decode())
        return {sample.name: sample.value for family in families for sample in family.samples}


def test_a_killed_agent_resends_what_central_had_not_confirmed(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    video, _ = conveyor
    credentials = mqtt_broker.station(str(STATION))
    document = settings(mqtt_broker, credentials, video, tmp_path / "o.db", source={"loop": True})
    config = write_config(tmp_path / "edge.toml", document)
    argv = [sys.executable, "-m", "linetrace", "edge", "run", "--config", str(config)]
    agent = subprocess.Popen(argv, stderr=subprocess.DEVNULL)
    try:
        sink.wait_for_events(5, timeout=RUN_TIMEOUT_S)
        sink.acking = False  # central stops confirming: what follows is in flight or queued
        sink.wait_for_events(12, timeout=RUN_TIMEOUT_S)
        agent.send_signal(signal.SIGKILL)
        assert agent.wait(RUN_TIMEOUT_S) == -signal.SIGKILL
    finally:
        if agent.poll() is None:
            agent.kill()
            agent.wait()
    with Outbox(tmp_path / "o.db", STATION) as outbox:
        unconfirmed = outbox.depth()
    assert unconfirmed > 0
    sink.acking = True
    document["source"]["loop"] = False
    write_config(tmp_path / "edge.toml", document)
    rerun = subprocess.run(argv, check=False, stderr=subprocess.DEVNULL, timeout=RUN_TIMEOUT_S)
    assert rerun.returncode == 0
    with Outbox(tmp_path / "o.db", STATION) as outbox:
        last, depth = outbox.last_seq, outbox.depth()
    events = sink.wait_for_events(last)
    by_seq: dict[int, set[str]] = {}
    for event in events:
        by_seq.setdefault(event.seq, set()).add(str(event.event_id))
    assert sorted(by_seq) == list(range(1, last + 1))  # every seq at least once
    assert all(len(ids) == 1 for ids in by_seq.values())  # a resend is the same event
    assert len(events) > len(by_seq)  # some came twice: central's dedup drops them
    assert depth == 0


def test_check_reports_what_central_retains_and_a_taken_metrics_port(
    mqtt_broker: LocalBroker, sink: AckingSink, conveyor: tuple[Path, Truth], tmp_path: Path
) -> None:
    document = settings(
        mqtt_broker, mqtt_broker.station(str(STATION)), conveyor[0], tmp_path / "o.db"
    )
    sink.publish_batch(
        STATION,
        BatchAnnouncement(
            batch_id="B-9",
            gtin="08938500000018",
            lot="L9",
            started_at=datetime(2026, 3, 1, tzinfo=UTC),
        ),
    )
    sink.publish_watermark(STATION, 40)  # this outbox never made seq 40
    with socket.create_server(("127.0.0.1", 0)) as taken:
        document["metrics"] = {"port": taken.getsockname()[1]}
        out = io.StringIO()
        assert run_checks(write_config(tmp_path / "edge.toml", document), out) == 1
    lines = {line.split()[0]: line for line in out.getvalue().splitlines()}
    assert "FAILED" in lines["central"]
    assert "the outbox was replaced" in lines["central"]
    assert "FAILED" in lines["metrics"]
    assert "cannot listen" in lines["metrics"]

    sink.publish_watermark(STATION, 0)
    del document["metrics"]
    out = io.StringIO()
    assert run_checks(write_config(tmp_path / "edge.toml", document), out) == 0
    assert "batch B-9 (GTIN 08938500000018, lot L9)" in out.getvalue()
