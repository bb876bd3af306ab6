"""The Prometheus endpoint, scraped over HTTP like Prometheus does."""

from __future__ import annotations

import math
import socket
import urllib.request

import pytest
from prometheus_client.parser import text_string_to_metric_families

from linetrace.broker.contract.topics import StationId
from linetrace.edge.delivery.metrics import MetricsError, MetricsServer
from linetrace.edge.delivery.status import StationFigures
from linetrace.ports import free_port

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
