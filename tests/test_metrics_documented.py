"""docs/metrics.md documents every Prometheus metric of edge and central, and no other.

Both endpoints are scraped for real (the edge's HTTP server, central's app with its ingest
running) and their metric families compared, by name and type, with the tables in the
document.
"""

from __future__ import annotations

import re
import urllib.request
from pathlib import Path

from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from linetrace.broker.contract.topics import StationId
from linetrace.central.api.app import create_app
from linetrace.central.store import upgrade
from linetrace.edge.delivery.metrics import MetricsServer
from linetrace.edge.delivery.status import StationFigures
from linetrace.ports import free_port
from tests.central.helpers import central_settings

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(linetrace_\w+)` \| (counter|gauge|histogram) \|", re.MULTILINE)


def documented() -> dict[str, str]:
    return dict(ROW.findall(DOC.read_text()))


def exported(text: str) -> dict[str, str]:
    """Metric names as a scrape shows them (counters with ``_total``), with their type."""
    return {
        family.name + ("_total" if family.type == "counter" else ""): family.type
        for family in text_string_to_metric_families(text)
    }


def edge_metrics() -> dict[str, str]:
    station = StationId("hcm1", "L1", "pack-1")
    with MetricsServer(station, StationFigures, port=free_port()) as server:
        url = f"http://127.0.0.1:{server.port}/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return exported(response.read().decode())


def central_metrics(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'central.db'}"
    upgrade(url)
    # The ingest runs (its figures are exported) against a port where no broker listens.
    settings = central_settings(url, port=free_port())
    with TestClient(create_app(settings, run_ingest=True)) as client:
        return exported(client.get("/metrics").text)


def test_every_metric_is_documented_and_every_documented_metric_exists(tmp_path: Path) -> None:
    found = edge_metrics() | central_metrics(tmp_path)
    doc = documented()
    assert {name for name in found if name.startswith("linetrace_edge_")}, "no edge metrics"
    assert {name for name in found if name.startswith("linetrace_central_")}, "no central metrics"
    assert sorted(set(found) - set(doc)) == [], "exported but not in docs/metrics.md"
    assert sorted(set(doc) - set(found)) == [], "in docs/metrics.md but not exported"
    wrong = {name: (doc[name], kind) for name, kind in found.items() if doc[name] != kind}
    assert wrong == {}, "documented type differs (doc, exported)"
