"""The committed JSON Schema must be what the models generate today."""

from __future__ import annotations

from pathlib import Path

from linetrace.broker.contract.messages import SCHEMA_PATH, write_schema


def test_committed_schema_is_up_to_date(tmp_path: Path) -> None:
    fresh = write_schema(tmp_path / SCHEMA_PATH.name).read_text()
    assert SCHEMA_PATH.read_text() == fresh, (
        f"{SCHEMA_PATH.name} is stale: regenerate it with `linetrace broker schema` "
        "and commit it together with the model change"
    )
