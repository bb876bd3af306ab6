"""``linetrace central producer | location | portal check`` on a real database."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linetrace.central.store import open_engine
from tests.central.central_main import main
from tests.central.helpers import GTIN
from tests.central.relay.portal_helpers import PACK_GLN, stored_lot
from tests.central.running import write_config
from tests.central.trace_helpers import LOT


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> str:
    return str(write_config(tmp_path / "central.toml", database_url))


def test_producer_and_location_round_trip(config: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["central", "producer", "show", "--config", config]) == 1
    assert "not been set" in capsys.readouterr().err
    assert main(["central", "producer", "set", "--name", "Công ty Sữa A", "--address", "Bình Dương",
                 "--tax-code", "0301234567", "--config", config]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["central", "producer", "show", "--config", config]) == 0
    assert json.loads(capsys.readouterr().out)["tax_code"] == "0301234567"
    assert main(["central", "location", "set", PACK_GLN, "--name", "Xưởng", "--address", "BD",
                 "--kind", "warehouse", "--config", config]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["central", "location", "list", "--config", config]) == 0
    (listed,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert (listed["gln"], listed["kind"]) == (PACK_GLN, "warehouse")
    assert main(["central", "location", "set", "8938500001011", "--name", "x", "--address", "y",
                 "--config", config]) == 2  # fmt: skip
    assert "check digit" in capsys.readouterr().err


def test_portal_check_exits_1_naming_what_is_missing(
    config: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_engine(database_url)
    try:
        stored_lot(engine, producer_address=None)
    finally:
        engine.dispose()
    assert main(["central", "portal", "check", "--lot", f"{GTIN}/{LOT}", "--config", config]) == 1
    out, err = capsys.readouterr()
    assert " 4 MISSING producer address [required]" in out
    assert " 2 ok      product image [required]" in out
    assert "from products.image_url: https://" in out
    assert "4 producer address (Địa chỉ đơn vị sản xuất, kinh doanh)" in err


def test_portal_check_of_a_complete_lot_exits_0(
    config: str, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    engine = open_engine(database_url)
    try:
        stored_lot(engine)
    finally:
        engine.dispose()
    assert (
        main(["central", "portal", "check", "--lot", f"{GTIN}/{LOT}", "--json", "--config", config])
        == 0
    )
    found = json.loads(capsys.readouterr().out)
    assert all(element["present"] for element in found["elements"])
    assert main(["central", "portal", "check", "--lot", "nonsense", "--config", config]) == 2
