"""The Prometheus endpoint, scraped over HTTP like Prometheus does."""

from __future__ import annotations

import math
import socket
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings
from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.delivery.metrics import MetricsError, MetricsServer
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.publisher import Publisher
from linetrace.edge.delivery.status import AgentCounters, CapacityAlarm, StationFigures, StatusBoard
from linetrace.edge.line.current_batch import CurrentBatch
from linetrace.edge.line.margin import DecodeMargin
from linetrace.edge.line.passage import Passage
from linetrace.edge.scanner.figures import ScanFigures
from linetrace.ports import free_port
from tests.conditions import wait_until
from tests.edge.delivery.acking_sink import AckingSink

STATION = StationId("hcm1", "L1", "pack-1")


def scrape(port: int) -> dict[str, float]:
    """Every sample on ``/metrics`` by name, checking the station labels on the way."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as response:
        text = response.read().decode()
    samples: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name.startswith("linetrace_edge_") and not sample.name.endswith("_created"):
                assert sample.labels == {"site": "hcm1", "line": "L1", "station": "pack-1"}
                samples[sample.name] = sample.value
    return samples


def test_a_scrape_reads_a_fresh_snapshot() -> None:
    reads = [10.0]

    def figures() -> StationFigures:
        reads[0] += 1
        return StationFigures(reads=reads[0], read_rate=0.97, outbox_depth=3)

    with MetricsServer(STATION, figures, port=free_port()) as server:
        first, second = scrape(server.port), scrape(server.port)
    assert first["linetrace_edge_reads_total"] == 11.0
    assert second["linetrace_edge_reads_total"] == 12.0
    assert first["linetrace_edge_read_rate"] == 0.97
    assert first["linetrace_edge_outbox_depth"] == 3.0
    assert math.isnan(first["linetrace_edge_ec_used"])  # unknown, not zero


def test_a_taken_port_is_reported_and_a_closed_server_frees_it() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        with pytest.raises(MetricsError, match=f"metrics endpoint 127.0.0.1:{port}"):
            MetricsServer(STATION, StationFigures, port=port)
    server = MetricsServer(STATION, StationFigures, port=free_port())
    server.close()
    with socket.create_server(("127.0.0.1", server.port)):
        pass  # free again


def test_the_last_stored_and_the_last_acknowledged_seq_are_exported(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    credentials = mqtt_broker.station(str(STATION))
    config = MqttSettings(
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=credentials.username,
        password=SecretStr(credentials.password),
    )
    seen = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    read = Passage(kind=EventKind.READ, first_seen=seen, last_seen=seen, frames=2, text="x")
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
    ):
        board = StatusBoard(
            outbox,
            CapacityAlarm(outbox, 0.8),
            DecodeMargin(),
            AgentCounters(),
            CurrentBatch(),
            ScanFigures,
        )
        publisher = Publisher(outbox, config, client_id="edge-m")
        board.publisher = lambda: publisher.stats
        sink.acking = False  # central receives all five and confirms three
        publisher.start()
        try:
            for _ in range(5):
                outbox.append(read)
            publisher.nudge()
            sink.wait_for_events(5)
            sink.publish_watermark(STATION, 3)
            wait_until(lambda: outbox.depth() == 2)
            with MetricsServer(STATION, board.snapshot, port=free_port()) as server:
                samples = scrape(server.port)
        finally:
            publisher.stop()
    assert samples["linetrace_edge_last_stored_seq"] == 5.0
    assert samples["linetrace_edge_watermark"] == 3.0
    assert samples["linetrace_edge_outbox_depth"] == 2.0
