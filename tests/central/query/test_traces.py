"""Traces: one code's lineage and a lot's whole story, as functions, through the API and
through the CLI, on a small plant: items read at a check station, packed into cases,
the cases onto a pallet, one item re-packed, one wrong-lot read and a no-read."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.derive.codes import MalformedCode, NotAnInstance
from linetrace.central.derive.production_batches import Batch
from linetrace.central.query.code_trace import CodeNotFound, trace_code
from linetrace.central.query.lot_trace import LotNotFound, trace_lot
from tests.central.auth_helpers import login_headers
from tests.central.central_main import main
from tests.central.helpers import GTIN, STATION, central_settings, make_event
from tests.central.running import write_config
from tests.central.trace_helpers import (
    LOT,
    OTHER_GTIN,
    PACKER,
    PALLETISER,
    after,
    item,
    open_batch,
    pack,
    sscc,
    store,
)

CASE_A, CASE_B, PALLET = sscc(1), sscc(2), sscc(3)


def unit(number: int) -> dict[str, str]:
    return {"01": GTIN, "21": f"{number:06d}", "10": LOT}


def key(number: int) -> str:
    return f"(01){GTIN}(21){number:06d}"


@pytest.fixture
def plant(engine: Engine) -> Batch:
    """The plant's batch, with its reads and packs stored."""
    batch = open_batch(engine)
    store(
        engine,
        *(item(n, f"{n:06d}", after(batch, n)) for n in range(1, 5)),
        item(5, "000005", after(batch, 5), lot="L9999"),  # wrong lot, during the batch
        make_event(6, kind="noread", observed_at=after(batch, 6)),
        item(7, "000001", after(batch, 7)),  # item 1 read again
        pack(1, CASE_A, [unit(1), unit(2)], after(batch, 10)),
        pack(2, CASE_B, [unit(3), unit(4)], after(batch, 11)),
        pack(1, PALLET, [{"00": CASE_A}, {"00": CASE_B}], after(batch, 20), station=PALLETISER),
        pack(3, CASE_B, [unit(2)], after(batch, 30)),  # item 2 moved from case A to case B
    )
    return batch


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


# --- one code --------------------------------------------------------------------------------


def test_an_items_lineage(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        trace = trace_code(connection, f"(01){GTIN}(10){LOT}(21)000002")
    assert (trace.kind, trace.key, trace.gtin, trace.serial, trace.lot) == (
        "item",
        key(2),
        GTIN,
        "000002",
        LOT,
    )
    assert trace.product is not None
    assert trace.product.name == "Sữa tươi 1 L"
    assert [b.id for b in trace.batches] == [plant.id]
    assert [(s.parent, s.station) for s in trace.containers] == [
        (f"(00){CASE_B}", PACKER),
        (f"(00){PALLET}", PALLETISER),
    ]
    history = [(s.parent, s.unpacked_at is None) for s in trace.packing_history]
    assert history == [(f"(00){CASE_A}", False), (f"(00){CASE_B}", True)]
    assert [(s.station, s.kind, s.role) for s in trace.sightings] == [
        (STATION, "read", "code"),
        (PACKER, "pack", "child"),
        (PACKER, "pack", "child"),
    ]
    assert trace.sightings[0].observed_at.utcoffset() == after(plant, 0).utcoffset()
    assert trace.contents == []
    assert trace.mismatches == []


def test_a_pallets_contents_down_to_the_items(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        trace = trace_code(connection, f"https://id.gs1.org/00/{PALLET}")
    assert (trace.kind, trace.sscc, trace.product) == ("sscc", PALLET, None)
    tree = {case.code: [i.code for i in case.contents] for case in trace.contents}
    assert tree == {
        f"(00){CASE_A}": [key(1)],
        f"(00){CASE_B}": [key(2), key(3), key(4)],
    }
    assert [s.role for s in trace.sightings] == ["code"]
    assert trace.containers == []
    assert not trace.contents_truncated


def test_a_wrong_item_shows_its_mismatch(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        trace = trace_code(connection, f"01{GTIN}21000005")
    assert trace.lot == "L9999"
    assert [(m.check, m.batch_id) for m in trace.mismatches] == [("lot", plant.id)]


def test_a_raw_code_and_a_stored_text_that_looks_malformed(engine: Engine) -> None:
    batch = open_batch(engine)
    store(
        engine,
        make_event(1, observed_at=after(batch, 1), text="PART-42", gs1=None),
        make_event(2, observed_at=after(batch, 2), text="(note) not gs1", gs1=None),
    )
    with engine.connect() as connection:
        assert trace_code(connection, "PART-42").kind == "raw"
        odd = trace_code(connection, "(note) not gs1")
        assert (odd.kind, len(odd.sightings)) == ("raw", 1)
        with pytest.raises(MalformedCode, match="human-readable"):
            trace_code(connection, "(note) never stored")


def test_unknown_and_class_level_codes_are_refused(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        with pytest.raises(CodeNotFound, match="000099"):
            trace_code(connection, f"(01){GTIN}(21)000099")
        with pytest.raises(NotAnInstance, match="trace the lot"):
            trace_code(connection, f"(01){GTIN}(10){LOT}")


# --- one lot ---------------------------------------------------------------------------------


def test_a_lots_whole_story(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        trace = trace_lot(connection, LOT, items_limit=3)
    assert trace.gtins == [GTIN]
    assert [p.gtin for p in trace.products] == [GTIN]
    assert [b.id for b in trace.batches] == [plant.id]
    assert trace.items.count == 4
    assert [i.serial for i in trace.items.items] == ["000001", "000002", "000003"]
    assert trace.items.next_after == f"{GTIN}/000003"
    assert [(s.station, s.reads, s.items) for s in trace.stations] == [(STATION, 5, 4)]
    assert trace.first_seen == after(plant, 1)
    assert trace.last_seen == after(plant, 7)
    containers = {c.code: (c.items, c.parents) for c in trace.containers}
    assert containers == {
        f"(00){CASE_A}": (2, [f"(00){PALLET}"]),
        f"(00){CASE_B}": (3, [f"(00){PALLET}"]),
    }
    assert [(n.station, n.noreads) for n in trace.noreads] == [(STATION, 1)]
    assert [(m.check, m.events) for m in trace.mismatch_counts] == [("lot", 1)]
    assert [m.code for m in trace.mismatches] == [f"01{GTIN}10L9999\x1d21000005"]
    assert [(g.station, g.watermark, g.missing) for g in trace.gaps] == [(STATION, 7, [])]
    with engine.connect() as connection:
        rest = trace_lot(connection, LOT, items_after=trace.items.next_after, items_limit=3)
    assert [i.serial for i in rest.items.items] == ["000004"]
    assert rest.items.next_after is None


def test_a_lot_shows_the_seq_gaps_of_its_stations(engine: Engine) -> None:
    batch = open_batch(engine)
    store(engine, item(1, "000001", after(batch, 1)), item(4, "000004", after(batch, 4)))
    with engine.connect() as connection:
        trace = trace_lot(connection, LOT)
    assert [(g.watermark, g.max_seq_seen, g.missing) for g in trace.gaps] == [(1, 4, [(2, 3)])]


def test_a_lot_of_another_gtin_or_no_lot_at_all(engine: Engine, plant: Batch) -> None:
    with engine.connect() as connection:
        with pytest.raises(LotNotFound, match=f"lot '{LOT}' of GTIN {OTHER_GTIN}"):
            trace_lot(connection, LOT, OTHER_GTIN)
        with pytest.raises(LotNotFound):
            trace_lot(connection, "NOPE")
        planned = trace_lot(connection, LOT, GTIN)
    assert planned.items.count == 4


# --- API -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "code",
    [
        quote(f"(01){GTIN}(21)000002", safe=""),
        quote(f"https://id.gs1.org/01/{GTIN}/21/000002", safe=""),
        f"https://id.gs1.org/01/{GTIN}/21/000002",
    ],
)
def test_api_code_trace_takes_any_url_encoded_form(
    client: TestClient, plant: Batch, code: str
) -> None:
    response = client.get(f"/api/traces/code/{code}")
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["key"] == key(2)
    assert body["product"]["gtin"] == GTIN
    assert [c["parent"] for c in body["containers"]] == [f"(00){CASE_B}", f"(00){PALLET}"]


def test_api_code_trace_says_404_and_422(client: TestClient, plant: Batch) -> None:
    missing = client.get(f"/api/traces/code/{quote(f'(01){GTIN}(21)000099', safe='')}")
    assert missing.status_code == 404
    assert "000099" in missing.json()["detail"]
    bad = client.get(f"/api/traces/code/{quote(f'(01){GTIN[:-1]}9(21)1', safe='')}")
    assert bad.status_code == 422
    assert "check digit" in bad.json()["detail"]
    product = client.get(f"/api/traces/code/{GTIN}")
    assert product.status_code == 422
    assert "trace the lot" in product.json()["detail"]


def test_api_lot_trace(client: TestClient, plant: Batch) -> None:
    body = client.get(f"/api/traces/lot/{LOT}", params={"gtin": "8938500000010"}).json()
    assert body["items"]["count"] == 4
    assert body["batches"][0]["id"] == plant.id
    assert client.get(f"/api/traces/lot/{LOT}", params={"gtin": "123"}).status_code == 422
    assert client.get("/api/traces/lot/NOPE").status_code == 404
    assert client.get(f"/api/traces/lot/{'L' * 21}").status_code == 422


# --- CLI -------------------------------------------------------------------------------------


def test_cli_prints_traces_as_json(
    tmp_path: Path, database_url: str, plant: Batch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "central.toml", database_url))
    assert main(["central", "trace", f"(00){CASE_A}", "--config", config]) == 0
    case = json.loads(capsys.readouterr().out)
    assert [c["code"] for c in case["contents"]] == [key(1)]
    assert main(["central", "trace", "--lot", LOT, "--gtin", GTIN, "--config", config]) == 0
    assert json.loads(capsys.readouterr().out)["items"]["count"] == 4
    assert main(["central", "trace", f"(01){GTIN}(21)000099", "--config", config]) == 1
    assert "nothing stored names" in capsys.readouterr().err
    assert main(["central", "trace", "(01)1", "--config", config]) == 2
    assert "not a GS1" in capsys.readouterr().err


def test_api_traces_show_a_scoped_reader_only_their_lines(database_url: str, plant: Batch) -> None:
    """Another line's reader finds nothing (404, not 403: no confirmation that it exists);
    a reader of this line sees it all."""
    app = create_app(central_settings(database_url))
    code = quote(f"(01){GTIN}(21)000002", safe="")
    other = login_headers(database_url, Role.AUDITOR, ("hcm1/L2",))
    own = login_headers(database_url, Role.AUDITOR, ("hcm1/L1",))
    with TestClient(app) as client:
        for path in (f"/api/traces/code/{code}", f"/api/traces/lot/{LOT}"):
            refused = client.get(path, headers=other)
            assert refused.status_code == 404, refused.text
            assert "scope" in refused.json()["detail"]
            assert client.get(path, headers=own).status_code == 200
        seen = client.get(f"/api/traces/code/{code}", headers=own).json()
        assert {s["station"] for s in seen["sightings"]} == {STATION, PACKER}
