"""Documents: one root @context, bounded sizes, corrections that keep the eventID."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any
from uuid import uuid4

import pytest

from linetrace.central.relay.epcis.documents import (
    document,
    encode,
    envelope_size,
    error_declaration,
    split,
)
from linetrace.central.relay.epcis.hashing import event_hash
from linetrace.central.relay.epcis.mapping import MappedEvent
from linetrace.central.relay.epcis.schema import document_problems
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT, EPCIS_CONTEXT_URL, LINETRACE_NS

CREATED = datetime(2025, 3, 1, 8, 0, tzinfo=timezone(timedelta(hours=7)))


def _event(serial: str, detail: str = "") -> MappedEvent:
    body: dict[str, Any] = {
        "type": "ObjectEvent",
        "eventTime": "2025-03-01T08:00:00.000+07:00",
        "eventTimeZoneOffset": "+07:00",
        "epcList": [f"https://id.gs1.org/01/08938500000010/21/{serial}"],
        "action": "OBSERVE",
        "lt:detail": detail,
    }
    body = {"eventID": event_hash(body, EPCIS_CONTEXT), **body}
    return MappedEvent(uuid4(), body["eventID"], "L1", "08938500000010", body)


def test_a_document_has_one_root_context() -> None:
    doc = document([_event("1").body], created=CREATED)
    assert doc["@context"] == [EPCIS_CONTEXT_URL, {"lt": LINETRACE_NS}]
    assert (doc["schemaVersion"], doc["creationDate"]) == ("2.0", "2025-03-01T08:00:00.000+07:00")
    assert all("@context" not in event for event in doc["epcisBody"]["eventList"])


def test_encoding_is_compact_utf8() -> None:
    text = encode(document([_event("1", "lô sai").body], created=CREATED))
    assert b": " not in text
    assert b", " not in text
    assert "lô sai".encode() in text
    assert json.loads(text)["epcisBody"]["eventList"][0]["lt:detail"] == "lô sai"


@pytest.mark.parametrize(
    ("max_events", "max_bytes"), [(100, 20_000), (3, 100_000), (7, 1_500), (1, 1)]
)
def test_split_bounds_events_and_bytes_envelope_included(max_events: int, max_bytes: int) -> None:
    events = [_event(str(n), "x" * (n % 50)) for n in range(40)]
    groups = split(events, max_events, max_bytes)
    assert [e for group in groups for e in group] == events
    for group in groups:
        size = len(encode(document([e.body for e in group], created=CREATED)))
        assert len(group) <= max_events
        assert size <= max_bytes or len(group) == 1  # an event too big alone goes alone
    if max_bytes >= 1_500:  # a bound that holds several events is used well
        assert all(
            len(encode(document([e.body for e in [*group, nxt]], created=CREATED))) > max_bytes
            or len(group) == max_events
            for group, nxt in zip(groups, [g[0] for g in groups[1:]], strict=False)
        )


def test_the_envelope_size_holds_for_any_creation_date() -> None:
    for created in (datetime(2031, 5, 6, tzinfo=UTC), CREATED):
        assert (
            envelope_size() >= len(encode(document([], created=created))) == envelope_size(created)
        )


def test_an_error_declaration_keeps_the_event_id(epcis_schema: dict[str, Any]) -> None:
    original = _event("1").body
    declared = error_declaration(original, "wrong lot printed", CREATED)
    assert declared["eventID"] == original["eventID"] == event_hash(declared, EPCIS_CONTEXT)
    assert declared["errorDeclaration"] == {
        "declarationTime": "2025-03-01T08:00:00.000+07:00",
        "reason": "incorrect_data",
        "lt:reason": "wrong lot printed",
    }
    assert "errorDeclaration" not in original
    assert document_problems(document([declared], created=CREATED), epcis_schema) == []


def test_an_unknown_cbv_error_reason_is_refused() -> None:
    with pytest.raises(ValueError, match="did_not_occur"):
        error_declaration(_event("1").body, "x", CREATED, cbv_reason="oops")
