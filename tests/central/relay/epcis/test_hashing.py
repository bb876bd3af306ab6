"""The CBV 2.0 event hash against every vector of the reference implementation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from linetrace.central.relay.epcis.canonical_values import canonical_time
from linetrace.central.relay.epcis.digital_link import canonical_digital_link
from linetrace.central.relay.epcis.hashing import (
    document_event_hashes,
    document_events,
    event_hash,
    hash_of_prehash,
    prehash,
)

from .conftest import SHARED_EPCIS

VECTORS = sorted((SHARED_EPCIS / "hash-vectors").glob("*.jsonld"))
# Pre-hash lines in the shared vectors that do not hash to the listed hash: left stale
# upstream when the expected hashes were regenerated (the .hashes are authoritative, and
# the reference implementation's own output agrees with them, not with these lines).
STALE_PREHASH_LINES = {
    ("epcisDocWithAllGS1Keys", 0),
    ("epcisDocWithCustomSchemaInContext", 1),
    ("epcisDocWithDefaultSchemaInContext", 1),
}


def _load(path: Path) -> dict[str, object]:
    document: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return document


@pytest.mark.parametrize("vector", VECTORS, ids=[p.stem for p in VECTORS])
def test_every_vector_hashes_as_expected(vector: Path, epcis_folder: Path) -> None:
    expected = vector.with_suffix(".hashes").read_text(encoding="utf-8").split()
    assert document_event_hashes(_load(vector)) == expected


# epcisDocHavingEventWithComment comes without a .prehashes file; its hashes are checked.
WITH_PREHASHES = [p for p in VECTORS if p.with_suffix(".prehashes").exists()]


@pytest.mark.parametrize("vector", WITH_PREHASHES, ids=[p.stem for p in WITH_PREHASHES])
def test_every_prehash_string_matches(vector: Path, epcis_folder: Path) -> None:
    prehashes = vector.with_suffix(".prehashes")
    document = _load(vector)
    events, ignore = document_events(document)
    expected = prehashes.read_text(encoding="utf-8").strip("\n").split("\n")
    hashes = vector.with_suffix(".hashes").read_text(encoding="utf-8").split()
    assert len(expected) == len(events)
    for index, (event, line, listed) in enumerate(zip(events, expected, hashes, strict=True)):
        ours = prehash(event, document.get("@context"), ignore=ignore)
        if (vector.stem, index) in STALE_PREHASH_LINES:
            assert hash_of_prehash(line) != listed  # still stale: recheck if the vectors change
            assert hash_of_prehash(ours) == listed
        else:
            assert ours == line, f"event {index}"


def test_there_are_vectors(epcis_folder: Path) -> None:
    assert len(list((epcis_folder / "hash-vectors").glob("*.jsonld"))) >= 20


BASE = {
    "type": "ObjectEvent",
    "eventTime": "2025-03-01T08:00:00.000+07:00",
    "eventTimeZoneOffset": "+07:00",
    "epcList": ["https://id.gs1.org/01/08938500000010/21/000001"],
    "action": "OBSERVE",
}


def test_the_error_declaration_and_ids_are_left_out() -> None:
    declared = {
        **BASE,
        "eventID": "ni:///sha-256;00?ver=CBV2.0",
        "recordTime": "2025-03-01T09:00:00Z",
        "errorDeclaration": {"declarationTime": "2025-03-02T00:00:00Z", "reason": "incorrect_data"},
    }
    assert event_hash(declared) == event_hash(BASE)


def test_a_transaction_type_comes_before_its_value() -> None:
    event = {
        **BASE,
        "bizTransactionList": [{"bizTransaction": "https://x.example/po/1", "type": "po"}],
    }
    assert prehash(event).endswith(
        "bizTransactionListtype=https://ref.gs1.org/cbv/BTT-pobizTransaction=https://x.example/po/1"
    )


def test_extensions_sort_by_full_namespace() -> None:
    context = [{"b": "http://z.example/", "a": "https://a.example/"}]
    event = {**BASE, "a:x": "1", "b:x": "2"}
    assert prehash(event, context).endswith("{http://z.example/}x=2{https://a.example/}x=1")


@pytest.mark.parametrize(
    ("text", "canonical"),
    [
        ("2025-03-01T08:00:00+07:00", "2025-03-01T01:00:00.000Z"),
        ("2025-03-01T08:00:00.1234567+07:00", "2025-03-01T01:00:00.123Z"),
        ("2025-03-01T08:00:00.1235Z", "2025-03-01T08:00:00.124Z"),
        ("2025-12-31T23:59:59.9996Z", "2026-01-01T00:00:00.000Z"),
    ],
)
def test_times_are_cut_to_milliseconds_in_utc(text: str, canonical: str) -> None:
    assert canonical_time(text) == canonical


@pytest.mark.parametrize(
    ("identifier", "link"),
    [
        (
            "urn:epc:id:sgtin:8938500.000001.000123",
            "https://id.gs1.org/01/08938500000010/21/000123",
        ),
        ("urn:epc:id:sgln:8938500.00001.0", "https://id.gs1.org/414/8938500000010"),
        (
            "https://example.com/gtin/8938500000010/lot/L1/ser/7?x=1",
            "https://id.gs1.org/01/08938500000010/21/7",
        ),
        (
            "https://id.gs1.org/01/08938500000010/22/V1/10/L1",
            "https://id.gs1.org/01/08938500000010/10/L1",
        ),
        ("https://linetrace.dev/epcis/prodorder/1", None),
        ("hello", None),
    ],
)
def test_identifiers_become_canonical_digital_links(identifier: str, link: str | None) -> None:
    assert canonical_digital_link(identifier) == link


def test_bare_cbv_words_are_expanded() -> None:
    event = {**BASE, "bizStep": "shipping", "disposition": "urn:epcglobal:cbv:disp:in_transit"}
    text = prehash(event)
    assert "bizStep=https://ref.gs1.org/cbv/BizStep-shipping" in text
    assert "disposition=https://ref.gs1.org/cbv/Disp-in_transit" in text
