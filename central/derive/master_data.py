"""The producer (the organisation on the national portal) and the named locations behind
the stations' GLNs: master data a trace and the portal show next to every event.

Circular 02/2024/TT-BKHCN asks for the producer's name and address with every record,
and for each stage a location trace code; the code is the station's GLN (GS1 AI 414),
and the portal wants the place behind it named and addressed before any stage uses it.
There is one producer per central (the ``producer`` table holds one row); a product's
own ``producer_*`` fields override it for goods a trader has made elsewhere.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

import sqlalchemy as sa
from pydantic import AfterValidator, AwareDatetime, BaseModel, ConfigDict, Field
from sqlalchemy.engine import Connection, RowMapping

from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.trace_tables import locations, producer
from linetrace.gs1 import valid_gln

__all__ = [
    "LOCATION_KINDS",
    "MAX_LOCATIONS_PAGE",
    "Location",
    "LocationData",
    "Producer",
    "ProducerData",
    "get_location",
    "get_producer",
    "list_locations",
    "put_location",
    "put_producer",
]

# The producer table's one row (its CHECK constraint allows no other id).
_PRODUCER_ID = 1
# A page of a thousand locations is well under a hundred kilobytes; a plant has tens.
MAX_LOCATIONS_PAGE = 1000
# The kinds of place a supply chain passes through, as the portal's stages know them
# (processing/packing, warehouse, transport hub, agent, store, growing area). A kind
# outside this list is refused so that a typo cannot pick the wrong portal stage.
LOCATION_KINDS = ("factory", "warehouse", "transport", "agent", "store", "farm")
# A Vietnamese tax code (mã số thuế) is 10 digits, or 10 + "-" + 3 for a branch.
_TAX_CODE = r"^\d{10}(-\d{3})?$"


def _kind(text: str) -> str:
    if text not in LOCATION_KINDS:
        raise ValueError(f"kind must be one of {', '.join(LOCATION_KINDS)}")
    return text


_Text = Annotated[str, Field(min_length=1, max_length=500)]
_Gln = Annotated[str, AfterValidator(valid_gln)]


class ProducerData(BaseModel):
    """The organisation as an operator sets it: who makes or trades the products."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Registered name of the producer or trader (Tên đơn vị sản xuất, kinh doanh)."
    )
    address: _Text = Field(description="Its registered address (Địa chỉ).")
    gln: _Gln | None = Field(default=None, description="GS1 GLN (13 digits) of the organisation.")
    tax_code: Annotated[str, Field(pattern=_TAX_CODE)] | None = Field(
        default=None, description="Tax code (MST): 10 digits, or 10-3 for a branch."
    )


class Producer(ProducerData):
    """The stored producer."""

    created_at: AwareDatetime = Field(description="When it was first set.")
    updated_at: AwareDatetime = Field(description="When it last changed.")


class LocationData(BaseModel):
    """A named place behind a GLN, as an operator sets it (everything but the GLN)."""

    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)

    name: Annotated[str, Field(min_length=1, max_length=200)] = Field(
        description="Name of the place, e.g. 'Nhà máy Bình Dương – xưởng đóng gói'."
    )
    address: _Text = Field(description="Its address.")
    kind: Annotated[str, AfterValidator(_kind)] = Field(
        default="factory", description=f"What the place is: {', '.join(LOCATION_KINDS)}."
    )


class Location(LocationData):
    """A stored location."""

    gln: str = Field(description="GS1 GLN (AI 414) of the place.")
    created_at: AwareDatetime = Field(description="When it was first set.")
    updated_at: AwareDatetime = Field(description="When it last changed.")


def put_producer(connection: Connection, data: ProducerData) -> tuple[Producer, bool]:
    """Set the producer, replacing what was there; True if it was not set before."""
    now = datetime.now(UTC)
    values = data.model_dump()
    insert = dialect_insert(connection, producer).values(
        id=_PRODUCER_ID, **values, created_at=now, updated_at=now
    )
    statement = insert.on_conflict_do_update(
        index_elements=[producer.c.id], set_={**values, "updated_at": now}
    ).returning(*producer.c)
    found = Producer.model_validate(_without_id(connection.execute(statement).mappings().one()))
    return found, found.created_at == now


def get_producer(connection: Connection) -> Producer | None:
    """The producer, or None when it has not been set."""
    row = connection.execute(sa.select(producer)).mappings().first()
    return None if row is None else Producer.model_validate(_without_id(row))


def put_location(connection: Connection, gln: str, data: LocationData) -> tuple[Location, bool]:
    """Set the location ``gln`` (already validated), replacing it; True if new."""
    now = datetime.now(UTC)
    values = data.model_dump()
    insert = dialect_insert(connection, locations).values(
        gln=gln, **values, created_at=now, updated_at=now
    )
    statement = insert.on_conflict_do_update(
        index_elements=[locations.c.gln], set_={**values, "updated_at": now}
    ).returning(*locations.c)
    found = Location.model_validate(dict(connection.execute(statement).mappings().one()))
    return found, found.created_at == now


def get_location(connection: Connection, gln: str) -> Location | None:
    """The location with this GLN, or None."""
    row = connection.execute(sa.select(locations).where(locations.c.gln == gln)).mappings()
    found = row.first()
    return None if found is None else Location.model_validate(dict(found))


def list_locations(
    connection: Connection, *, after: str | None = None, limit: int = 100
) -> list[Location]:
    """Locations in GLN order, starting after the GLN ``after`` (the previous page's last)."""
    statement = sa.select(locations).order_by(locations.c.gln).limit(limit)
    if after is not None:
        statement = statement.where(locations.c.gln > after)
    return [Location.model_validate(dict(row)) for row in connection.execute(statement).mappings()]


def _without_id(row: RowMapping) -> dict[str, Any]:
    return {key: value for key, value in row.items() if key != "id"}
