"""The 10 elements of Circular 02/2024 for a lot: where each comes from, what is missing."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import Engine

from linetrace.central.relay.portal_check import (
    ELEMENTS,
    LotNotFound,
    check_lot,
    missing_required,
    parse_lot_key,
)
from linetrace.errors import InvalidCode
from tests.central.helpers import GTIN
from tests.central.relay.portal_helpers import PACK_GLN, stored_lot
from tests.central.trace_helpers import LOT


def test_the_table_holds_the_circulars_ten_elements_in_both_languages() -> None:
    assert [element.number for element in ELEMENTS] == list(range(1, 11))
    assert ELEMENTS[1].name_vi == "Hình ảnh sản phẩm"
    assert [e.number for e in ELEMENTS if not e.required] == [8, 9]


def test_a_complete_lot_has_every_element_and_says_where_each_comes_from(engine: Engine) -> None:
    stored_lot(engine)
    with engine.connect() as connection:
        found = check_lot(connection, GTIN, LOT)
        assert missing_required(connection, GTIN, LOT) == []
    assert found.complete
    by_key = {status.key: status for status in found.elements}
    assert all(status.present for status in found.elements)
    assert by_key["product_image"].source == "products.image_url"
    assert by_key["producer_address"].source == "producer.address"
    assert by_key["stages"].source == "events -> stations.gln (AI 414) -> locations.name"
    assert PACK_GLN in str(by_key["stages"].value)
    assert "Xưởng chiết rót" in str(by_key["stages"].value)
    assert by_key["traceability_code"].value == f"(01){GTIN}(10){LOT}"
    assert by_key["expiry"].source == "batches.expiry (AI 17)"
    assert by_key["brand_model_serial"].source == "products.brand, events.serial (AI 21)"
    assert by_key["standards"].value == "TCVN 7028:2009, QCVN 5-1:2010/BYT"


@pytest.mark.parametrize(
    ("missing", "named", "fix"),
    [
        ({"image_url": None}, "2 product image", "products.image_url is empty"),
        ({"producer_address": None}, "4 producer address", "producer set --address"),
        ({"with_gln": False}, "5 stages", "has no GLN"),
        ({"with_locations": False}, "5 stages", "is not a known location"),
    ],
)
def test_a_lot_missing_a_required_element_is_named(
    engine: Engine, missing: dict[str, object], named: str, fix: str
) -> None:
    stored_lot(engine, **missing)  # type: ignore[arg-type]
    with engine.connect() as connection:
        found = missing_required(connection, GTIN, LOT)
    assert len(found) == (2 if "producer_address" in missing else 1), found
    assert any(line.startswith(named) and fix in line for line in found), found


def test_an_unknown_lot_is_not_found_and_lacks_everything(engine: Engine) -> None:
    with engine.connect() as connection:
        with pytest.raises(LotNotFound, match="no events and no batch"):
            check_lot(connection, GTIN, "NOPE")
        assert missing_required(connection, GTIN, "NOPE") == [
            f"central has no events and no batch for lot {GTIN}/NOPE"
        ]


def test_lot_keys_are_gtin_slash_lot() -> None:
    assert parse_lot_key("8938500000010/L2611") == (GTIN, "L2611")
    assert parse_lot_key(f"{GTIN}/A/B") == (GTIN, "A/B")
    with pytest.raises(InvalidCode, match="GTIN/LOT"):
        parse_lot_key(GTIN)
    with pytest.raises(InvalidCode, match="check digit"):
        parse_lot_key("8938500000011/L1")
