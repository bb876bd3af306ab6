"""``linetrace central export --lot GTIN/LOT``: a lot as one EPCIS document or as CSV."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import Engine

from linetrace.central.relay.epcis.schema import EPCIS_SCHEMA_FILE, document_problems, load_schema
from linetrace.central.store import open_engine, upgrade
from tests.central.central_main import main
from tests.central.helpers import GTIN, make_event
from tests.central.running import write_config
from tests.central.trace_helpers import LOT, after, item, open_batch, pack, sscc, store

SCHEMA = (
    Path(__file__).resolve().parents[3].parent / "shared" / "epcis" / "schema" / EPCIS_SCHEMA_FILE
)


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A database with a lot: 3 reads (one without AI 10), a pack, a wrong-lot read, a no-read."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine: Engine = open_engine(url)
    try:
        batch = open_batch(engine)
        store(
            engine,
            item(1, "000001", after(batch, 1)),
            item(2, "000002", after(batch, 2)),
            item(3, "000003", after(batch, 3), lot=None),
            item(4, "000004", after(batch, 4), lot="L9999"),
            make_event(5, kind="noread", observed_at=after(batch, 5)),
            pack(1, sscc(1), [{"01": GTIN, "21": "000001", "10": LOT}], after(batch, 6)),
        )
    finally:
        engine.dispose()
    return write_config(tmp_path / "central.toml", url)


def _export(config: Path, *options: str) -> int:
    return main(["central", "export", "--config", str(config), "--lot", f"{GTIN}/{LOT}", *options])


def test_a_lot_as_one_epcis_document(
    config: Path, capsysbinary: pytest.CaptureFixture[bytes], require: Any
) -> None:
    assert _export(config) == 0
    doc = json.loads(capsysbinary.readouterr().out)
    body = doc["epcisBody"]["eventList"]
    serials = [e["epcList"][0].rsplit("/", 1)[1] for e in body if e["type"] == "ObjectEvent"]
    assert serials == ["000001", "000002", "000003"]  # the wrong lot's read is another lot's
    assert [e["type"] for e in body][-1] == "AggregationEvent"
    require(SCHEMA.is_file(), f"GS1 EPCIS JSON Schema missing: {SCHEMA}")
    assert document_problems(doc, load_schema(SCHEMA)) == []


def test_a_lot_as_csv_to_a_file(config: Path, tmp_path: Path) -> None:
    out = tmp_path / "lot.csv"
    assert _export(config, "--format", "csv", "--out", str(out)) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    assert [r["kind"] for r in rows] == ["read", "read", "read", "pack"]
    first = rows[0]
    assert first["event_time"].endswith("+07:00")
    assert first["station"] == "hcm1/L1/pack-1"
    assert (first["gtin"], first["lot"], first["serial"], first["check_outcome"]) == (
        GTIN,
        LOT,
        "000001",
        "passed",
    )
    assert first["epcis_event_id"].startswith("ni:///sha-256;")
    assert rows[3]["sscc"] == sscc(1)
    assert rows[3]["children"] == "1"
    assert not list(tmp_path.glob("*.partial"))


def test_the_epcis_file_matches_stdout(
    config: Path, tmp_path: Path, capsysbinary: pytest.CaptureFixture[bytes]
) -> None:
    out = tmp_path / "lot.jsonld"
    assert _export(config, "--out", str(out)) == 0
    assert _export(config) == 0
    written = json.loads(out.read_bytes())
    printed = json.loads(capsysbinary.readouterr().out)
    assert written["epcisBody"] == printed["epcisBody"]


def test_an_unknown_lot_is_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "none.csv"
    status = main(
        ["central", "export", "--config", str(config), "--lot", f"{GTIN}/NOPE", "--out", str(out)]
    )
    assert status == 1
    assert "belongs to lot NOPE" in capsys.readouterr().err
    assert not out.exists()
    assert not list(tmp_path.glob("*.partial"))


@pytest.mark.parametrize("lot", ["08938500000010", "08938500000011/L1", f"{GTIN}/{'x' * 21}"])
def test_a_malformed_lot_is_refused(
    config: Path, lot: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["central", "export", "--config", str(config), "--lot", lot]) == 2
    assert "linetrace central export:" in capsys.readouterr().err
