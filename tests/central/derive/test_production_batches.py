"""Production batches: one open per line, central's checks of every read against the batch
open when it was seen, the edge's failed checks, alarms; through the API and the CLI."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.derive.alarms import list_alarms
from linetrace.central.derive.production_batches import (
    MISMATCH_ALARM,
    BatchClosed,
    BatchNotFound,
    BatchStart,
    LineBusy,
    UnknownProduct,
    batch_counts,
    get_batch,
    list_batches,
    start_batch,
)
from linetrace.central.store.trace_tables import batches, event_checks
from tests.central.auth_helpers import login_headers
from tests.central.central_main import main
from tests.central.helpers import GTIN, STATION, central_settings, make_event
from tests.central.running import write_config
from tests.central.trace_helpers import (
    LINE,
    LOT,
    OTHER_GTIN,
    add_product,
    after,
    close,
    item,
    open_batch,
    store,
)

SECOND_STATION = "hcm1/L1/check-2"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        yield client


def checks(engine: Engine) -> list[tuple[str, str, str, int | None]]:
    """(serial or text, source, check, batch_id) of every recorded failure."""
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(event_checks).order_by(event_checks.c.observed_at, event_checks.c.check)
        ).mappings()
        return [(row["code"][-6:], row["source"], row["check"], row["batch_id"]) for row in rows]


def mismatch_alarms(engine: Engine) -> list[tuple[str | None, str]]:
    with engine.connect() as connection:
        found = list_alarms(connection, kind=MISMATCH_ALARM)
    return sorted((alarm.station, alarm.key) for alarm in found)


# --- starting and closing -----------------------------------------------------------------


def test_one_open_batch_per_line(engine: Engine) -> None:
    first = open_batch(engine)
    assert (first.line, first.gtin, first.lot, first.state) == (LINE, GTIN, LOT, "open")
    with pytest.raises(LineBusy, match=rf"line {LINE} is packing batch {first.id} .*close it"):
        open_batch(engine, lot="L2612")
    other_line = open_batch(engine, line="hcm1/L2", lot="L2612")
    closed = close(engine, first)
    assert closed.state == "closed"
    assert closed.closed_at is not None
    assert open_batch(engine, lot="L2613").id not in {first.id, other_line.id}


def test_the_database_itself_refuses_a_second_open_batch(engine: Engine) -> None:
    """The partial unique index holds even for writers that skip the check."""
    batch = open_batch(engine)
    row = {"site": "hcm1", "line": "L1", "gtin": GTIN, "lot": "X", "started_at": batch.started_at}
    with pytest.raises(sa.exc.IntegrityError), engine.begin() as connection:
        connection.execute(batches.insert().values(**row))
    close(engine, batch)
    with engine.begin() as connection:
        connection.execute(batches.insert().values(**row))


def test_a_batch_needs_the_product_master_data(engine: Engine) -> None:
    with (
        pytest.raises(UnknownProduct, match=f"PUT /api/products/{OTHER_GTIN}"),
        engine.begin() as connection,
    ):
        start_batch(connection, BatchStart(line=LINE, gtin=OTHER_GTIN, lot=LOT))


def test_closing_twice_or_an_unknown_batch_says_so(engine: Engine) -> None:
    batch = close(engine, open_batch(engine))
    with pytest.raises(BatchClosed, match=f"batch {batch.id} was closed already"):
        close(engine, batch)
    with pytest.raises(BatchNotFound, match="no batch has id 999"):
        close(engine, batch.model_copy(update={"id": 999}))


@pytest.mark.parametrize(
    ("fields", "reason"),
    [
        ({"line": "hcm1"}, "SITE/LINE"),
        ({"line": "hcm1/L+1"}, "not a valid id part"),
        ({"gtin": "8938500000011"}, "check digit"),
        ({"lot": "L 26"}, "GS1 character set"),
        ({"lot": "L" * 21}, "GS1 character set"),
        ({"expiry": "2025-01-01", "production_date": "2025-02-01"}, "before production_date"),
        ({"target_quantity": 0}, "greater than or equal to 1"),
        ({"shift": "night"}, "Extra inputs"),
    ],
)
def test_start_fields_are_validated(fields: dict[str, object], reason: str) -> None:
    with pytest.raises(ValidationError, match=reason):
        BatchStart.model_validate({"line": LINE, "gtin": GTIN, "lot": LOT, **fields})


def test_batches_are_listed_by_line_and_state(engine: Engine) -> None:
    old = close(engine, open_batch(engine))
    current = open_batch(engine, lot="L2612")
    elsewhere = open_batch(engine, line="hcm1/L2")
    with engine.connect() as connection:
        assert [b.id for b in list_batches(connection)] == [elsewhere.id, current.id, old.id]
        on_l1 = list_batches(connection, line=("hcm1", "L1"))
        assert [b.id for b in on_l1] == [current.id, old.id]
        assert [b.id for b in list_batches(connection, state="open", line=("hcm1", "L1"))] == [
            current.id
        ]
        assert [b.id for b in list_batches(connection, state="closed")] == [old.id]
        assert [b.id for b in list_batches(connection, lot=LOT, gtin=GTIN)] == [
            elsewhere.id,
            old.id,
        ]


# --- central's checks ------------------------------------------------------------------------


def test_reads_are_judged_against_the_open_batch(engine: Engine) -> None:
    batch = open_batch(engine)
    store(
        engine,
        item(1, "000001", after(batch, 1)),
        item(2, "000002", after(batch, 2), lot="L9999"),
        item(3, "000003", after(batch, 3), gtin=OTHER_GTIN),
        item(4, "000004", after(batch, 4), lot=None),  # no lot printed: only GTIN judged
    )
    assert checks(engine) == [
        ("000002", "central", "lot", batch.id),
        ("000003", "central", "gtin", batch.id),
    ]
    assert mismatch_alarms(engine) == [
        (STATION, f"batch {batch.id} gtin"),
        (STATION, f"batch {batch.id} lot"),
    ]


def test_expiry_is_judged_on_the_stations_own_date(engine: Engine) -> None:
    probe = open_batch(engine)
    close(engine, probe)
    seen_on = after(probe, 0).date()
    batch = open_batch(engine, lot="L2612", expiry=seen_on)
    store(
        engine,
        item(1, "000001", after(batch, 1), lot="L2612", expiry=seen_on),
        item(2, "000002", after(batch, 2), lot="L2612", expiry=seen_on - timedelta(days=1)),
    )
    found = checks(engine)
    assert ("000002", "central", "expiry", batch.id) in found
    assert ("000002", "central", "expired", batch.id) in found
    assert [c for c in found if c[0] == "000001"] == []


def test_an_expired_batch_marks_every_read(engine: Engine) -> None:
    probe = close(engine, open_batch(engine))
    yesterday = after(probe, 0).date() - timedelta(days=1)
    batch = open_batch(engine, lot="L2612", expiry=yesterday)
    store(engine, item(1, "000001", after(batch, 1), lot="L2612"))
    assert checks(engine) == [("000001", "central", "expired", batch.id)]


def test_a_late_read_is_judged_by_the_batch_open_when_it_was_seen(engine: Engine) -> None:
    earlier = open_batch(engine)
    close(engine, earlier)
    with engine.connect() as connection:
        earlier = get_batch(connection, earlier.id)
    assert earlier.closed_at is not None
    during = earlier.started_at + (earlier.closed_at - earlier.started_at) / 2
    later = open_batch(engine, lot="L2612")
    store(
        engine,
        item(1, "000001", during, lot=LOT),  # right for the batch it was seen in
        item(2, "000002", after(later, 1), lot=LOT),  # wrong for the batch running now
    )
    assert checks(engine) == [("000002", "central", "lot", later.id)]


def test_reads_without_a_batch_or_a_gtin_are_not_judged(engine: Engine) -> None:
    store(engine, item(1, "000001", after(open_batch(engine, line="hcm1/L2"), 1), lot="L0"))
    batch = open_batch(engine)
    store(engine, make_event(2, observed_at=after(batch, 2), text="NOT-GS1", gs1=None))
    assert checks(engine) == []


def test_the_edges_failed_checks_are_recorded_beside_centrals(engine: Engine) -> None:
    batch = open_batch(engine)
    edge_checks = {
        "check_digit": {"passed": True},
        "batch": {"passed": False, "detail": "lot L9999 is not L2611"},
        "dates": {"passed": False},
    }
    store(engine, item(1, "000001", after(batch, 1), lot="L9999", checks=edge_checks))
    assert checks(engine) == [
        ("000001", "edge", "batch", batch.id),
        ("000001", "edge", "dates", batch.id),
        ("000001", "central", "lot", batch.id),
    ]
    with engine.connect() as connection:
        details = set(connection.execute(sa.select(event_checks.c.detail)).scalars())
    assert {"lot L9999 is not L2611", "failed at the edge"} <= details


def test_a_resent_event_is_judged_once_and_one_alarm_per_check(engine: Engine) -> None:
    batch = open_batch(engine)
    wrong = [item(n, f"{n:06d}", after(batch, n), lot="L9999") for n in range(1, 4)]
    store(engine, *wrong)
    store(engine, *wrong, item(4, "000004", after(batch, 4), lot="L9999"))
    assert len(checks(engine)) == 4
    assert mismatch_alarms(engine) == [(STATION, f"batch {batch.id} lot")]


def test_closing_a_batch_clears_its_alarms(engine: Engine) -> None:
    batch = open_batch(engine)
    store(engine, item(1, "000001", after(batch, 1), lot="L9999"))
    assert mismatch_alarms(engine)
    close(engine, batch)
    assert mismatch_alarms(engine) == []
    with engine.connect() as connection:
        history = list_alarms(connection, open_only=False, kind=MISMATCH_ALARM)
    assert [alarm.cleared_at is not None for alarm in history] == [True]


def test_counts_per_station(engine: Engine) -> None:
    batch = open_batch(engine)
    store(
        engine,
        item(1, "000001", after(batch, 1)),
        item(2, "000001", after(batch, 2)),  # the same item read twice
        item(3, "000002", after(batch, 3), lot="L9999"),
        make_event(4, kind="noread", observed_at=after(batch, 4)),
        item(1, "000001", after(batch, 5), station=SECOND_STATION),
    )
    with engine.connect() as connection:
        counts = batch_counts(connection, get_batch(connection, batch.id))
    by_station = {c.station: (c.reads, c.items, c.noreads, c.mismatches) for c in counts.stations}
    assert by_station == {STATION: (3, 2, 1, 1), SECOND_STATION: (1, 1, 0, 0)}
    assert (counts.total("reads"), counts.total("mismatches")) == (4, 1)


# --- API ------------------------------------------------------------------------------------


def test_api_starts_lists_shows_and_closes(client: TestClient, engine: Engine) -> None:
    add_product(engine)
    started = client.post(
        "/api/batches",
        json={"line": LINE, "gtin": "8938500000010", "lot": LOT, "expiry": "2030-01-31",
              "target_quantity": 5000, "production_order": "PO-1"},
    )  # fmt: skip
    assert started.status_code == 201, started.text
    body = started.json()
    assert (body["gtin"], body["state"], body["expiry"]) == (GTIN, "open", "2030-01-31")
    busy = client.post("/api/batches", json={"line": LINE, "gtin": GTIN, "lot": "L2"})
    assert busy.status_code == 409
    assert f"is packing batch {body['id']}" in busy.json()["detail"]

    with engine.connect() as connection:
        batch = get_batch(connection, body["id"])
    store(engine, item(1, "000001", after(batch, 1)), item(2, "000002", after(batch, 2), lot="X"))
    detail = client.get(f"/api/batches/{body['id']}").json()
    assert (detail["reads"], detail["items"], detail["mismatches"]) == (2, 2, 1)
    assert detail["stations"][0]["station"] == STATION
    listed = client.get("/api/batches", params={"line": LINE, "state": "open"}).json()
    assert [b["id"] for b in listed] == [body["id"]]

    closed = client.post(f"/api/batches/{body['id']}/close")
    assert closed.status_code == 200
    assert closed.json()["state"] == "closed"
    assert client.post(f"/api/batches/{body['id']}/close").status_code == 409
    assert client.get("/api/batches", params={"state": "open"}).json() == []


def test_api_refusals_say_why(client: TestClient) -> None:
    unknown = client.post("/api/batches", json={"line": LINE, "gtin": GTIN, "lot": LOT})
    assert unknown.status_code == 422
    assert "no product master data" in unknown.json()["detail"]
    assert (
        client.post("/api/batches", json={"line": "x", "gtin": GTIN, "lot": LOT}).status_code == 422
    )
    assert client.get("/api/batches", params={"line": "a/b/c"}).status_code == 422
    assert client.get("/api/batches/999").status_code == 404
    assert client.post("/api/batches/999/close").status_code == 404


# --- CLI ------------------------------------------------------------------------------------


def test_cli_starts_lists_and_closes(
    tmp_path: Path, database_url: str, engine: Engine, capsys: pytest.CaptureFixture[str]
) -> None:
    config = str(write_config(tmp_path / "central.toml", database_url))
    add_product(engine)
    start = ["central", "batch", "start", LINE, "--gtin", GTIN, "--lot", LOT, "--config", config]
    assert main([*start, "--expiry", "2030-01-31", "--target", "100", "--order", "PO-7"]) == 0
    started = json.loads(capsys.readouterr().out)
    assert (started["expiry"], started["target_quantity"], started["production_order"]) == (
        "2030-01-31",
        100,
        "PO-7",
    )
    assert main(start) == 1
    assert f"is packing batch {started['id']}" in capsys.readouterr().err
    assert main(["central", "batch", "list", "--line", LINE, "--config", config]) == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [
        started["id"]
    ]
    assert main(["central", "batch", "close", str(started["id"]), "--config", config]) == 0
    assert json.loads(capsys.readouterr().out)["state"] == "closed"
    assert main(["central", "batch", "close", str(started["id"]), "--config", config]) == 1
    assert "closed already" in capsys.readouterr().err
    assert main([*start[:-2], "--expiry", "31/01/2030", "--config", config]) == 2
    assert "expiry" in capsys.readouterr().err
