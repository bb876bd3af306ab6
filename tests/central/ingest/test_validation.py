"""Admission of a received message: the contract, the topic, and what the store can hold."""

from __future__ import annotations

import json

import pytest

from linetrace.broker.contract.messages import MAX_EVENT_BYTES
from linetrace.central.ingest.validation import accept
from linetrace.errors import ContractError
from tests.central.helpers import GTIN, events_topic, make_event


def document(**changes: object) -> bytes:
    base = json.loads(make_event(7).to_payload())
    base.update(changes)
    return json.dumps(base).encode()


def test_a_valid_event_is_accepted_with_its_document_as_sent() -> None:
    accepted = accept(events_topic(), document(lane="left"))
    assert accepted.event.seq == 7
    assert accepted.document["lane"] == "left"


@pytest.mark.parametrize(
    ("topic", "payload", "reason"),
    [
        ("linetrace/v1/hcm1/L1/events", document(), "must be linetrace/v1/SITE/LINE/STATION"),
        ("other/hcm1/L1/pack-1/events", document(), "outside linetrace/v1"),
        ("linetrace/v1/hcm1/L1/pack-1/status", document(), "is not an events topic"),
        (
            events_topic("hcm1/L1/pack-2"),
            document(),
            "names station hcm1/L1/pack-1 but was published on the topic of hcm1/L1/pack-2",
        ),
        (events_topic(), b"{not json", "payload is not JSON"),
        (events_topic(), b'{"text": "\xff"}', "payload is not UTF-8"),
        (events_topic(), b"[1, 2]", "not a JSON object"),
        (events_topic(), document(schema_version="2.0"), "unsupported major version"),
        (events_topic(), document(seq=0), "seq: Input should be greater than or equal to 1"),
        (events_topic(), b" " * (MAX_EVENT_BYTES + 1), "exceeds 65536"),
        (events_topic(), document(seq=2**63), "exceeds the largest storable value"),
        (events_topic(), document(frames=2**31), "frames 2147483648 exceeds"),
        (events_topic(), document(text="01\x00"), "text contains a NUL character"),
        (events_topic(), document(gs1={"21": "a\x00"}), "gs1.21 contains a NUL character"),
        (events_topic(), document(text="\ud800"), "lone surrogate"),
        (
            events_topic(),
            document(gs1={"01": "08938500000018"}),
            "gs1.01 '08938500000018' has a wrong GTIN check digit (expected 0, got 8)",
        ),
        (events_topic(), document(gs1={"00": "12345"}), "gs1.00 '12345' is not a SSCC"),
        (events_topic(), document(gs1={"414": "893850000000A"}), "is not a GLN"),
        (events_topic(), document(gs1={"414": "8938500000004"}), "wrong GLN check digit"),
        (
            events_topic(),
            document(
                kind="pack",
                children=[{"text": "x", "gs1": {"01": GTIN}}, {"text": "y", "gs1": {"01": "1"}}],
            ),
            "children[1].gs1.01 '1' is not a GTIN",
        ),
    ],
)
def test_refusals_say_why(topic: str, payload: bytes, reason: str) -> None:
    with pytest.raises(ContractError) as refused:
        accept(topic, payload)
    assert reason in refused.value.reason


def test_valid_gs1_keys_pass_the_check_digit_test() -> None:
    keys = {"00": "089385000000000010", "01": GTIN, "414": "8938500000003", "10": "ANY"}
    assert accept(events_topic(), document(gs1=keys)).event.gs1 == keys
