"""The lot report and its downloads over HTTP: figures, completeness, 10 elements,
streamed CSV and EPCIS 2.0 JSON-LD valid against GS1's schema, access and bad input."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from linetrace.central.api import lot_reports, relay
from linetrace.central.api.errors import EXCEPTION_HANDLERS
from linetrace.central.auth.roles import Role
from linetrace.central.relay.epcis.schema import document_problems
from linetrace.central.store import open_engine, upgrade
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, STATION, central_settings
from tests.central.trace_helpers import LOT, PACKER, after, item, open_batch, pack, sscc, store

BASE = f"/api/lots/{GTIN}/{LOT}"


@pytest.fixture
def lot_url(database_url: str) -> str:
    """A lot of 5 items read on the labeller (seq 3 never arrives) and packed in one case."""
    upgrade(database_url)
    engine = open_engine(database_url)
    try:
        batch = open_batch(engine)
        reads = [item(seq, f"S{seq}", after(batch, seq)) for seq in (1, 2, 4, 5, 6)]
        children = [{"01": GTIN, "10": LOT, "21": f"S{seq}"} for seq in (1, 2)]
        store(engine, *reads, pack(1, sscc(1), children, after(batch, 7), station=PACKER))
    finally:
        engine.dispose()
    return database_url


@pytest.fixture
def client(lot_url: str) -> Iterator[TestClient]:
    """The lot and relay routers on their own (the whole app is assembled elsewhere)."""
    app = FastAPI(exception_handlers=EXCEPTION_HANDLERS)  # type: ignore[arg-type]
    app.include_router(lot_reports.router)
    app.include_router(relay.router)
    engine = open_engine(lot_url)
    app.state.engine = engine
    app.state.settings = central_settings(lot_url)
    try:
        with TestClient(app) as client:
            yield client
    finally:
        engine.dispose()


@pytest.fixture
def auditor(lot_url: str) -> dict[str, str]:
    return login_headers(lot_url, Role.AUDITOR)


def test_the_report_counts_checks_and_names_sources(
    client: TestClient, auditor: dict[str, str]
) -> None:
    answer = client.get(f"{BASE}/report", headers=auditor)
    assert answer.status_code == 200, answer.text
    report = answer.json()
    assert report["items"] == 5
    counts = {(c["station"], c["kind"]): c["events"] for c in report["counts"]}
    assert counts[(STATION, "read")] == 5
    assert counts[(PACKER, "pack")] == 1
    labeller = next(c for c in report["completeness"] if c["station"] == STATION)
    assert (labeller["first_seq"], labeller["last_seq"], labeller["missing"]) == (1, 6, 1)
    assert labeller["state"] == "waiting"
    assert labeller["missing_runs"] == [[3, 3]]
    assert [e["number"] for e in report["elements"]] == list(range(1, 11))
    assert all(e["source"] for e in report["elements"] if e["present"])
    assert any("image" in line for line in report["missing_elements"])
    assert report["first_seen"] is not None


def test_the_csv_download_streams_one_row_per_event(
    client: TestClient, auditor: dict[str, str]
) -> None:
    answer = client.get(f"{BASE}/export.csv", headers=auditor)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("text/csv")
    assert "attachment" in answer.headers["content-disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert len(rows) == 6
    assert {row["kind"] for row in rows} == {"read", "pack"}
    assert all(row["epcis_event_id"].startswith("ni:///sha-256;") for row in rows)


def test_the_jsonld_download_is_a_valid_epcis_document(
    client: TestClient, auditor: dict[str, str], epcis_schema: dict[str, Any]
) -> None:
    answer = client.get(f"{BASE}/export.jsonld", headers=auditor)
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith("application/ld+json")
    document = json.loads(answer.content)
    assert len(document["epcisBody"]["eventList"]) == 6
    assert document_problems(document, epcis_schema) == []


def test_an_unknown_lot_is_a_404_before_any_byte(
    client: TestClient, auditor: dict[str, str]
) -> None:
    for suffix in ("report", "export.csv", "export.jsonld"):
        answer = client.get(f"/api/lots/{GTIN}/NOPE/{suffix}", headers=auditor)
        assert answer.status_code == 404, (suffix, answer.text)
        assert "detail" in answer.json()


def test_a_bad_gtin_is_a_422(client: TestClient, auditor: dict[str, str]) -> None:
    answer = client.get(f"/api/lots/08938500000011/{LOT}/report", headers=auditor)
    assert answer.status_code == 422
    assert "detail" in answer.json()


def test_an_operator_may_not_read_lot_reports(client: TestClient, lot_url: str) -> None:
    operator = login_headers(lot_url, Role.OPERATOR)
    assert client.get(f"{BASE}/report", headers=operator).status_code == 403
    assert client.get(f"{BASE}/export.csv", headers=operator).status_code == 403
    assert client.get(f"{BASE}/report").status_code == 401


def test_a_scoped_auditor_exports_only_their_lines(client: TestClient, lot_url: str) -> None:
    elsewhere = login_headers(lot_url, Role.AUDITOR, scopes=("dn1",))
    assert client.get(f"{BASE}/export.csv", headers=elsewhere).status_code == 404
    report = client.get(f"{BASE}/report", headers=elsewhere).json()
    assert report["counts"] == []
    assert report["completeness"] == []


def test_the_relay_monitor_needs_operate_to_retry(client: TestClient, lot_url: str) -> None:
    auditor = login_headers(lot_url, Role.AUDITOR)
    assert client.get("/api/relay", headers=auditor).status_code == 200
    assert client.post("/api/relay/retry", headers=auditor).status_code == 403
    operator = login_headers(lot_url, Role.OPERATOR)
    answer = client.post("/api/relay/retry", headers=operator)
    assert answer.status_code == 200
    assert answer.json() == {"queued": 0}
