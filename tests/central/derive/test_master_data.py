"""The producer and the locations: validation, replace-on-set, one producer only."""

from __future__ import annotations

import pytest
import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from linetrace.central.derive.master_data import (
    LocationData,
    ProducerData,
    get_location,
    get_producer,
    list_locations,
    put_location,
    put_producer,
)
from linetrace.central.store.trace_tables import producer
from tests.central.relay.portal_helpers import CASE_GLN, PACK_GLN


def test_master_data_is_validated() -> None:
    with pytest.raises(ValidationError, match="check digit"):
        ProducerData(name="A", address="B", gln="8938500000004")
    with pytest.raises(ValidationError, match="tax_code"):
        ProducerData(name="A", address="B", tax_code="123")
    with pytest.raises(ValidationError, match="kind must be one of"):
        LocationData(name="A", address="B", kind="moon")
    with pytest.raises(ValidationError, match="address"):
        ProducerData.model_validate({"name": "A"})


def test_the_producer_is_replaced_and_there_is_only_one(engine: Engine) -> None:
    with engine.begin() as connection:
        assert get_producer(connection) is None
        first, created = put_producer(
            connection, ProducerData(name="A", address="B", gln="8938500000003")
        )
        second, again = put_producer(connection, ProducerData(name="A2", address="B2"))
    assert (created, again) == (True, False)
    assert (second.name, second.gln, second.created_at) == ("A2", None, first.created_at)
    with pytest.raises(IntegrityError), engine.begin() as connection:
        connection.execute(sa.insert(producer).values(
            id=2, name="x", address="y", created_at=first.created_at, updated_at=first.created_at))  # fmt: skip


def test_locations_are_set_and_listed_in_gln_order(engine: Engine) -> None:
    with engine.begin() as connection:
        put_location(connection, CASE_GLN, LocationData(name="Kho", address="BD", kind="warehouse"))
        put_location(connection, PACK_GLN, LocationData(name="Xưởng", address="BD"))
        page = list_locations(connection, limit=1)
        rest = list_locations(connection, after=page[-1].gln)
        found = get_location(connection, PACK_GLN)
    assert [place.gln for place in page + rest] == [PACK_GLN, CASE_GLN]
    assert found is not None
    assert found.kind == "factory"
