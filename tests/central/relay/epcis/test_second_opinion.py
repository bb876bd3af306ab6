"""Our event hashes agree with the reference implementation's (``epcis-event-hash-generator``)
on events our mapping writes, and every document of them passes GS1's schema."""

from __future__ import annotations

import copy
import warnings
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings

from linetrace.central.relay.epcis.documents import document
from linetrace.central.relay.epcis.mapping import map_rows
from linetrace.central.relay.epcis.schema import document_problems

from .stored_rows import mapping_inputs

CREATED = datetime(2025, 3, 1, tzinfo=UTC)
# The reference implementation expands the EPCIS context's own prefixes only for values
# (through JSON-LD); for keys it knows only what the document's context declares. Our
# ILMD keys use ``cbvmda:``, which the EPCIS context declares, so its copy of the document
# declares it again (same IRI) to be read as the standard means.
CBVMDA = {"cbvmda": "urn:epcglobal:cbv:mda:"}
# The reference implementation goes through JSON-LD expansion per document (slow).
EXAMPLES = 40


def _reference_hashes(doc: dict[str, Any]) -> list[str]:
    from epcis_event_hash_generator import (  # type: ignore[import-untyped]  # dev dependency
        hash_generator,
        json_to_py,
    )

    theirs = copy.deepcopy(doc)
    theirs["@context"] = [*theirs["@context"], CBVMDA]
    with warnings.catch_warnings():
        # It reads its cached copy of the EPCIS context with importlib.resources.open_text,
        # deprecated since Python 3.11; the warning (an error under our pytest settings)
        # would make it fall back to fetching the context from the network.
        warnings.simplefilter("ignore", DeprecationWarning)
        events = json_to_py.event_list_from_epcis_document_json(theirs)
    hashes: list[str] = hash_generator.epcis_hashes_from_events(events)
    return hashes


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(inputs=mapping_inputs())
def test_our_hashes_agree_with_the_reference_implementation(inputs: Any) -> None:
    mapped = map_rows(*inputs)
    doc = document([m.body for m in mapped], created=CREATED)
    assert [m.epcis_event_id for m in mapped] == _reference_hashes(doc)


def test_generated_documents_pass_the_schema(epcis_schema: dict[str, Any]) -> None:
    @settings(max_examples=EXAMPLES, deadline=None)
    @given(inputs=mapping_inputs())
    def check(inputs: Any) -> None:
        mapped = map_rows(*inputs)
        doc = document([m.body for m in mapped], created=CREATED)
        assert document_problems(doc, epcis_schema) == []

    check()
