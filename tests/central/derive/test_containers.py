"""The container hierarchy from pack events: item → case → pallet, re-packing kept as
history, events out of order, and refusals recorded with their reasons."""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.derive.containers import ancestors
from linetrace.central.store.trace_tables import containment, event_checks
from tests.central.helpers import GTIN, HCM
from tests.central.trace_helpers import LOT, PACKER, PALLETISER, item, pack, sscc, store

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
CASE_A, CASE_B, PALLET = sscc(1), sscc(2), sscc(3)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def unit(number: int) -> dict[str, str]:
    return {"01": GTIN, "21": f"{number:06d}", "10": LOT}


def key(number: int) -> str:
    return f"(01){GTIN}(21){number:06d}"


def stays(engine: Engine, child: str) -> list[tuple[str, datetime, datetime | None]]:
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(containment.c.parent_code, containment.c.packed_at, containment.c.unpacked_at)
            .where(containment.c.child_code == child)
            .order_by(containment.c.packed_at)
        ).all()
    return [(parent, packed, unpacked) for parent, packed, unpacked in rows]


def pack_problems(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        query = sa.select(event_checks.c.detail).where(event_checks.c.check == "pack")
        return list(connection.execute(query).scalars())


def test_items_go_into_a_case_and_cases_onto_a_pallet(engine: Engine) -> None:
    store(engine, pack(1, CASE_A, [unit(1), unit(2)], at(10)))
    store(engine, pack(1, PALLET, [{"00": CASE_A}], at(20), station=PALLETISER))
    assert stays(engine, key(1)) == [(f"(00){CASE_A}", at(10), None)]
    with engine.connect() as connection:
        chain = ancestors(connection, key(2))
        then = ancestors(connection, key(2), at(15))
    assert [(s.parent, s.station) for s in chain] == [
        (f"(00){CASE_A}", PACKER),
        (f"(00){PALLET}", PALLETISER),
    ]
    assert [s.parent for s in then] == [f"(00){CASE_A}"]  # not yet on the pallet at 15 s
    assert pack_problems(engine) == []


def test_repacking_ends_the_previous_stay_and_keeps_it(engine: Engine) -> None:
    store(engine, pack(1, CASE_A, [unit(1), unit(2)], at(10)))
    store(engine, pack(2, CASE_B, [unit(1)], at(30)))
    assert stays(engine, key(1)) == [
        (f"(00){CASE_A}", at(10), at(30)),
        (f"(00){CASE_B}", at(30), None),
    ]
    assert stays(engine, key(2)) == [(f"(00){CASE_A}", at(10), None)]
    with engine.connect() as connection:
        moved_by = connection.execute(
            sa.select(containment.c.unpacked_event_id).where(containment.c.unpacked_at.is_not(None))
        ).scalar_one()
    assert moved_by is not None


def test_a_late_pack_event_is_placed_by_its_time(engine: Engine) -> None:
    """The re-pack into B is stored first; the earlier pack into A arrives afterwards."""
    store(engine, pack(2, CASE_B, [unit(1)], at(30)))
    store(engine, pack(1, CASE_A, [unit(1)], at(10)))
    assert stays(engine, key(1)) == [
        (f"(00){CASE_A}", at(10), at(30)),
        (f"(00){CASE_B}", at(30), None),
    ]


def test_an_earlier_sighting_in_the_same_case_moves_the_start_back(engine: Engine) -> None:
    store(engine, pack(2, CASE_A, [unit(1)], at(30)))
    store(engine, pack(1, CASE_A, [unit(1)], at(10)))
    assert stays(engine, key(1)) == [(f"(00){CASE_A}", at(10), None)]


def test_seeing_a_case_again_or_a_resend_changes_nothing(engine: Engine) -> None:
    first = pack(1, CASE_A, [unit(1), unit(2)], at(10))
    store(engine, first)
    store(engine, first, pack(2, CASE_A, [unit(2), unit(1)], at(40), station=PALLETISER))
    assert stays(engine, key(1)) == [(f"(00){CASE_A}", at(10), None)]
    assert stays(engine, key(2)) == [(f"(00){CASE_A}", at(10), None)]


def test_a_parent_without_an_sscc_is_recorded_not_packed(engine: Engine) -> None:
    bad = pack(1, CASE_A, [unit(1)], at(10))
    as_item = bad.model_copy(update={"text": "x", "gs1": {"01": GTIN, "21": "000009"}})
    store(engine, as_item)
    assert stays(engine, key(1)) == []
    assert pack_problems(engine) == ["the parent label 'x' carries no SSCC (00)"]


def test_children_without_a_key_are_named_and_the_rest_packed(engine: Engine) -> None:
    children = [unit(1), {"01": GTIN, "10": LOT}, {"00": CASE_A}]
    event = pack(1, CASE_A, children, at(10))
    store(engine, event)
    assert stays(engine, key(1)) == [(f"(00){CASE_A}", at(10), None)]
    expected = (
        f"1 children carry no SSCC or GTIN + serial: '01{GTIN}10{LOT}'; "
        "the parent label was listed among its own children"
    )
    assert pack_problems(engine) == [expected]


def test_packing_a_container_into_its_own_content_is_refused(engine: Engine) -> None:
    store(engine, pack(1, PALLET, [{"00": CASE_A}], at(10), station=PALLETISER))
    store(engine, pack(1, CASE_A, [{"00": PALLET}, unit(1)], at(20)))
    assert stays(engine, f"(00){PALLET}") == []
    assert stays(engine, key(1)) == [(f"(00){CASE_A}", at(20), None)]
    assert pack_problems(engine) == [
        f"1 children hold the parent, packing would make a loop: (00){PALLET}"
    ]


def test_a_childs_lot_comes_from_its_own_read_when_the_pack_lacks_it(engine: Engine) -> None:
    store(engine, item(1, "000001", at(5)))
    store(
        engine,
        pack(1, CASE_A, [{"01": GTIN, "21": "000001"}, {"01": GTIN, "21": "000077"}], at(10)),
    )
    with engine.connect() as connection:
        lots = dict(
            connection.execute(sa.select(containment.c.child_code, containment.c.child_lot)).all()
        )
    assert lots == {key(1): LOT, key(77): None}
