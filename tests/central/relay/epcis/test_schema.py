"""GS1's EPCIS JSON Schema with format checking: the standard's examples pass, our mistakes don't."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import pytest

from linetrace.central.relay.epcis.schema import (
    EPCIS_SCHEMA_ENV,
    EPCIS_SCHEMA_FILE,
    document_problems,
    load_schema,
)
from linetrace.errors import NotFound

from .conftest import SHARED_EPCIS

EXAMPLES = sorted((SHARED_EPCIS / "examples").glob("*.jsonld"))


@pytest.mark.parametrize("example", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_the_standards_examples_are_valid(example: Path, epcis_schema: dict[str, Any]) -> None:
    document = json.loads(example.read_text(encoding="utf-8"))
    assert document_problems(document, epcis_schema) == []


def test_there_are_examples_to_check(epcis_folder: Path) -> None:
    assert len(list((epcis_folder / "examples").glob("*.jsonld"))) >= 5


def _digital_link_example(folder: Path) -> dict[str, Any]:
    path = folder / "examples" / "Example_9.6.1-ObjectEventWithDigitalLink.jsonld"
    document: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return document


def test_an_extension_key_that_is_not_a_uri_is_refused(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = _digital_link_example(epcis_folder)
    document["epcisBody"]["eventList"][0]["station id"] = "hcm1/L1/pack-1"
    problems = document_problems(document, epcis_schema)
    assert any("$.epcisBody.eventList[0]" in p and "station id" in p for p in problems), problems


def test_an_ilmd_key_that_is_not_a_uri_is_refused(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = _digital_link_example(epcis_folder)
    document["epcisBody"]["eventList"][0]["action"] = "ADD"
    document["epcisBody"]["eventList"][0]["ilmd"] = {"lot number": "L1"}
    problems = document_problems(document, epcis_schema)
    assert "$.epcisBody.eventList[0].ilmd: 'lot number' is not a 'uri'" in problems


def test_an_id_that_is_not_a_uri_names_its_path(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = _digital_link_example(epcis_folder)
    document["epcisBody"]["eventList"][1]["readPoint"] = {"id": "dock 4"}
    assert document_problems(document, epcis_schema) == [
        "$.epcisBody.eventList[1].readPoint.id: 'dock 4' is not a 'uri'"
    ]


def test_a_namespaced_extension_is_accepted(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = _digital_link_example(epcis_folder)
    document["@context"] = [*document["@context"], {"lt": "https://linetrace.dev/epcis/"}]
    event = document["epcisBody"]["eventList"][0]
    event["lt:station"] = "hcm1/L1/pack-1"
    event["action"] = "ADD"  # ilmd belongs to the event that creates the instances
    event["ilmd"] = {"cbvmda:lotNumber": "L1"}
    assert document_problems(document, epcis_schema) == []


def test_ilmd_on_an_observation_is_refused(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = _digital_link_example(epcis_folder)
    document["epcisBody"]["eventList"][0]["ilmd"] = {"cbvmda:lotNumber": "L1"}
    assert document_problems(document, epcis_schema) != []


def test_a_missing_required_field_is_reported(
    epcis_folder: Path, epcis_schema: dict[str, Any]
) -> None:
    document = copy.deepcopy(_digital_link_example(epcis_folder))
    del document["schemaVersion"]
    assert any("schemaVersion" in p for p in document_problems(document, epcis_schema))


def test_the_schema_is_found_through_the_environment(
    epcis_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(EPCIS_SCHEMA_ENV, str(epcis_folder / "schema" / EPCIS_SCHEMA_FILE))
    assert load_schema()["$schema"] == "http://json-schema.org/draft-07/schema#"


def test_an_unconfigured_schema_says_how_to_configure_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(EPCIS_SCHEMA_ENV, raising=False)
    with pytest.raises(NotFound, match=EPCIS_SCHEMA_ENV):
        load_schema()


def test_an_unreadable_schema_names_the_path(tmp_path: Path) -> None:
    missing = tmp_path / EPCIS_SCHEMA_FILE
    with pytest.raises(NotFound, match=str(missing)):
        load_schema(missing)
