"""Stored events, stored through the real ingest write path, as EPCIS events and documents."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.production_batches import Batch
from linetrace.central.derive.stations import register_station
from linetrace.central.relay.epcis.documents import document, encode, split
from linetrace.central.relay.epcis.hashing import event_hash
from linetrace.central.relay.epcis.mapping import MappedEvent
from linetrace.central.relay.epcis.schema import document_problems
from linetrace.central.relay.epcis.sources import map_events
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT
from linetrace.central.store.tables import events
from tests.central.helpers import GTIN, STATION, make_event
from tests.central.trace_helpers import LOT, PACKER, after, item, open_batch, pack, sscc, store

GLN = "8938500000010"
LABELLER = "hcm1/L1/label-1"
CREATED = datetime(2025, 3, 1, tzinfo=UTC)


def _register(engine: Engine, station: str, gln: str | None, role: str | None) -> None:
    with engine.begin() as connection:
        register_station(
            connection, StationId.parse(station), gln=gln, role=role, registered_by="test"
        )


def _all(engine: Engine) -> list[MappedEvent]:
    with engine.connect() as connection:
        ids = list(
            connection.execute(
                sa.select(events.c.event_id).order_by(events.c.observed_at)
            ).scalars()
        )
        return map_events(connection, ids)


@pytest.fixture
def plant(engine: Engine) -> Batch:
    """A labeller, a packing station with a GLN, a case packer without one; a batch with
    reads, a wrong-lot read, a no-read, an unserialised read and a pack."""
    _register(engine, LABELLER, GLN, "labelling")
    _register(engine, STATION, GLN, "packing")
    batch = open_batch(
        engine, expiry=date(2030, 1, 31), production_date=date(2025, 3, 1), production_order="PO-7"
    )
    store(
        engine,
        item(1, "000001", after(batch, 1), station=LABELLER),
        item(1, "000001", after(batch, 2)),
        item(2, "000002", after(batch, 3), lot="L9999"),
        make_event(3, kind="noread", observed_at=after(batch, 4)),
        make_event(
            4, observed_at=after(batch, 5), text=f"01{GTIN}10{LOT}", gs1={"01": GTIN, "10": LOT}
        ),
        pack(
            1,
            sscc(1),
            [{"01": GTIN, "21": "000001", "10": LOT}, {"01": GTIN, "21": "000002"}],
            after(batch, 10),
        ),
    )
    return batch


def test_each_kind_of_event_maps_as_the_issue_says(engine: Engine, plant: Batch) -> None:
    mapped = _all(engine)
    labelled, observed, wrong_lot, unserialised, packed = (m.body for m in mapped)
    assert len(mapped) == 5  # the no-read is not sent

    assert (labelled["type"], labelled["action"], labelled["bizStep"]) == (
        "ObjectEvent",
        "ADD",
        "commissioning",
    )
    assert labelled["ilmd"] == {
        "cbvmda:lotNumber": LOT,
        "cbvmda:itemExpirationDate": "2030-01-31",
        "lt:productionDate": "2025-03-01",
    }
    assert labelled["readPoint"] == {"id": f"https://id.gs1.org/414/{GLN}/254/L1.label-1"}
    assert labelled["bizLocation"] == {"id": f"https://id.gs1.org/414/{GLN}"}

    assert (observed["action"], observed["bizStep"], observed["disposition"]) == (
        "OBSERVE",
        "packing",
        "in_progress",
    )
    assert observed["epcList"] == [f"https://id.gs1.org/01/{GTIN}/21/000001"]
    assert observed["eventTimeZoneOffset"] == "+07:00"
    assert observed["eventTime"].endswith("+07:00")
    assert observed["bizTransactionList"] == [
        {"type": "prodorder", "bizTransaction": f"https://linetrace.dev/epcis/prodorder/{plant.id}"}
    ]
    assert "ilmd" not in observed  # GS1's schema allows ILMD on ADD only
    assert (observed["lt:station"], observed["lt:seq"], observed["lt:productionOrder"]) == (
        STATION,
        1,
        "PO-7",
    )

    assert (wrong_lot["bizStep"], wrong_lot["disposition"]) == ("inspecting", "non_conformant")
    assert {
        "lt:source": "central",
        "lt:check": "lot",
        "lt:detail": "lot L9999 is not the batch's L2611",
    } in wrong_lot["lt:failedChecks"]

    assert unserialised["quantityList"] == [
        {"epcClass": f"https://id.gs1.org/01/{GTIN}/10/{LOT}", "quantity": 1}
    ]

    assert (packed["type"], packed["action"], packed["parentID"]) == (
        "AggregationEvent",
        "ADD",
        f"https://id.gs1.org/00/{sscc(1)}",
    )
    assert packed["childEPCs"] == [
        f"https://id.gs1.org/01/{GTIN}/21/000001",
        f"https://id.gs1.org/01/{GTIN}/21/000002",
    ]
    assert packed["readPoint"] == {"id": f"https://linetrace.dev/epcis/station/{PACKER}"}  # no GLN
    assert "bizLocation" not in packed


def test_the_event_id_is_the_event_hash_and_stable(engine: Engine, plant: Batch) -> None:
    first, again = _all(engine), _all(engine)
    assert [m.epcis_event_id for m in first] == [m.epcis_event_id for m in again]
    for mapped in first:
        assert (
            mapped.body["eventID"]
            == mapped.epcis_event_id
            == event_hash(mapped.body, EPCIS_CONTEXT)
        )
    assert len({m.epcis_event_id for m in first}) == len(first)
    # The pack names no GTIN or lot itself: it takes its batch's, as do reads without a lot.
    assert {(m.gtin, m.lot) for m in first} == {(GTIN, LOT), (GTIN, "L9999")}


def test_every_document_validates_against_the_schema(
    engine: Engine, plant: Batch, epcis_schema: dict[str, Any]
) -> None:
    mapped = _all(engine)
    for max_events, max_bytes in ((100, 100_000), (2, 20_000), (1, 2_000)):
        groups = split(mapped, max_events, max_bytes)
        assert [m for group in groups for m in group] == mapped
        for group in groups:
            doc = document([m.body for m in group], created=CREATED)
            assert len(group) <= max_events
            assert len(encode(doc)) <= max_bytes
            assert document_problems(doc, epcis_schema) == []


def test_unknown_ids_and_noreads_are_left_out(engine: Engine, plant: Batch) -> None:
    noread = make_event(9, kind="noread", observed_at=after(plant, 40))
    store(engine, noread)
    with engine.connect() as connection:
        assert map_events(connection, [noread.event_id, make_event(10).event_id]) == []
