"""The scan event on the wire: round trips, versioning and every way a payload is refused."""

from __future__ import annotations

import json
import secrets
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import jsonschema  # type: ignore[import-untyped]
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from linetrace.broker.contract.messages import (
    MAX_EVENT_BYTES,
    SCHEMA_PATH,
    SCHEMA_VERSION,
    AckWatermark,
    CheckResult,
    EventKind,
    ScanEvent,
    StationStatus,
    parse_event,
)
from linetrace.broker.contract.topics import StationId
from linetrace.errors import ContractError

ICT = timezone(timedelta(hours=7))
GS = "\x1d"  # the GS1 field separator, kept in the raw text


def uuid7(unix_ms: int | None = None, random_bits: int | None = None) -> uuid.UUID:
    """A UUIDv7 (RFC 9562): 48-bit milliseconds, version 7, variant 10, 74 random bits."""
    if unix_ms is None:
        unix_ms = int(datetime.now(UTC).timestamp() * 1000)
    if random_bits is None:
        random_bits = secrets.randbits(74)
    high, low = random_bits >> 62, random_bits & ((1 << 62) - 1)
    return uuid.UUID(int=(unix_ms << 80) | (7 << 76) | (high << 64) | (0b10 << 62) | low)


def read_event(**changes: Any) -> ScanEvent:
    fields: dict[str, Any] = {
        "event_id": uuid7(),
        "site": "hcm",
        "line": "line1",
        "station": "st1",
        "seq": 42,
        "kind": EventKind.READ,
        "observed_at": datetime(2026, 3, 1, 8, 30, 15, 123000, tzinfo=ICT),
        "symbology": "DataMatrix",
        "symbology_id": "]d2",
        "text": f"0108938500000018{GS}10L2611{GS}21000123",
        "gs1": {"01": "08938500000018", "10": "L2611", "21": "000123"},
        "checks": {"check_digit": CheckResult(passed=True)},
        "frames": 3,
    }
    fields.update(changes)
    return ScanEvent(**fields)


def document(event: ScanEvent, **changes: Any) -> bytes:
    data: dict[str, Any] = json.loads(event.to_payload())
    data.update(changes)
    return json.dumps(data).encode()


def refusal(payload: bytes) -> str:
    with pytest.raises(ContractError) as caught:
        parse_event(payload)
    assert caught.value.reason == str(caught.value)
    return caught.value.reason


def test_an_event_survives_the_wire_unchanged() -> None:
    event = read_event()
    parsed = parse_event(event.to_payload())
    assert parsed == event
    assert parsed.observed_at.utcoffset() == timedelta(hours=7)
    assert parsed.station_id == StationId("hcm", "line1", "st1")
    assert parsed.schema_version == SCHEMA_VERSION


def test_the_wire_form_carries_the_station_offset_and_raw_text() -> None:
    wire = json.loads(read_event().to_payload())
    assert wire["observed_at"] == "2026-03-01T08:30:15.123000+07:00"
    assert wire["text"] == f"0108938500000018{GS}10L2611{GS}21000123"
    assert wire["schema_version"] == SCHEMA_VERSION


def test_unknown_major_version_is_refused_with_the_reason() -> None:
    reason = refusal(document(read_event(), schema_version="2.0"))
    assert "unsupported major version" in reason
    assert "2.0" in reason


@pytest.mark.parametrize("version", [None, "", "one", "x.1", 1.0, "1"])
def test_missing_or_malformed_version_is_refused(version: object) -> None:
    reason = refusal(document(read_event(), schema_version=version))
    assert "schema_version" in reason


def test_a_newer_minor_version_with_added_fields_is_accepted() -> None:
    payload = document(read_event(), schema_version="1.7", operator="ca-2", weight_g=12.5)
    event = parse_event(payload)
    assert event.schema_version == "1.7"
    assert event.model_extra == {"operator": "ca-2", "weight_g": 12.5}
    # Forwarding it keeps what this reader did not understand.
    assert json.loads(event.to_payload())["operator"] == "ca-2"


def test_naive_timestamp_is_refused() -> None:
    reason = refusal(document(read_event(), observed_at="2026-03-01T08:30:15"))
    assert "observed_at" in reason


def test_noread_carries_no_text() -> None:
    noread = read_event(kind=EventKind.NOREAD, text=None, gs1=None, symbology=None)
    assert parse_event(noread.to_payload()).text is None
    reason = refusal(document(noread, text="0108938500000018"))
    assert "noread event carries no text" in reason


@pytest.mark.parametrize("kind", ["read", "pack"])
@pytest.mark.parametrize("text", [None, ""])
def test_read_and_pack_need_the_decoded_text(kind: str, text: str | None) -> None:
    reason = refusal(document(read_event(), kind=kind, text=text))
    assert "needs the decoded text" in reason


def test_oversized_payload_is_refused_before_parsing() -> None:
    payload = document(read_event(), padding="x" * MAX_EVENT_BYTES)
    reason = refusal(payload)
    assert f"exceeds {MAX_EVENT_BYTES}" in reason


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b'{"text": "\xff"}', "not UTF-8"),
        (b"{not json", "not JSON"),
        (b"", "not JSON"),
        (b"[1, 2]", "not a JSON object"),
        (b'"text"', "not a JSON object"),
    ],
)
def test_payload_that_is_not_a_json_object_is_refused(payload: bytes, reason: str) -> None:
    assert reason in refusal(payload)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-32"])
def test_payload_in_another_unicode_encoding_is_refused(encoding: str) -> None:
    payload = read_event().to_payload().decode().encode(encoding)
    assert "not UTF-8" in refusal(payload)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"event_id": str(uuid.uuid4())}, "event_id"),
        ({"event_id": "not-a-uuid"}, "event_id"),
        ({"seq": 0}, "seq"),
        ({"frames": 0}, "frames"),
        ({"kind": "maybe"}, "kind"),
        ({"site": "a/b"}, "site"),
        ({"station": "+"}, "station"),
        ({"gs1": {"1": "x"}}, "gs1"),
        ({"symbology_id": "d2"}, "symbology_id"),
        ({"text": "x" * 4097}, "text"),
        ({"checks": {"batch": {"detail": "no outcome"}}}, "checks"),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(changes: dict[str, Any], field: str) -> None:
    reason = refusal(document(read_event(), **changes))
    assert reason.startswith("invalid event: ")
    assert field in reason


def test_missing_required_field_is_named() -> None:
    data = json.loads(read_event().to_payload())
    del data["seq"]
    assert "seq" in refusal(json.dumps(data).encode())


def test_status_and_ack_messages_round_trip() -> None:
    status = StationStatus(state="online", at=datetime.now(ICT), metrics={"fps": 29.5})
    assert StationStatus.model_validate_json(status.to_payload()) == status
    ack = AckWatermark(seq=41, at=datetime.now(UTC))
    assert AckWatermark.model_validate_json(ack.to_payload()) == ack


def test_committed_schema_accepts_a_real_event_and_refuses_a_broken_one() -> None:
    schema = json.loads(SCHEMA_PATH.read_text())
    validator = jsonschema.Draft202012Validator(schema)
    validator.validate(json.loads(read_event().to_payload()))
    broken = json.loads(read_event().to_payload())
    broken["seq"] = 0
    assert not validator.is_valid(broken)


# --- property: any valid event survives the wire --------------------------------------------

PARTS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,20}", fullmatch=True)
TEXT = st.text(st.characters(exclude_categories=["Cs"]), min_size=1, max_size=120)
OFFSETS = st.integers(-14 * 60, 14 * 60).map(lambda minutes: timezone(timedelta(minutes=minutes)))
MOMENTS = st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2100, 1, 1))
CHECKS = st.builds(CheckResult, passed=st.booleans(), detail=st.none() | TEXT)


@st.composite
def scan_events(draw: st.DrawFn) -> ScanEvent:
    kind = draw(st.sampled_from(list(EventKind)))
    return ScanEvent(
        event_id=uuid7(draw(st.integers(0, 2**48 - 1)), draw(st.integers(0, 2**74 - 1))),
        site=draw(PARTS),
        line=draw(PARTS),
        station=draw(PARTS),
        seq=draw(st.integers(1, 2**53)),
        kind=kind,
        observed_at=draw(MOMENTS).replace(tzinfo=draw(OFFSETS)),
        symbology=draw(st.none() | TEXT),
        symbology_id=draw(st.none() | st.from_regex(r"\][A-Za-z][0-9A-Za-z]", fullmatch=True)),
        text=None if kind is EventKind.NOREAD else draw(TEXT),
        gs1=draw(
            st.none()
            | st.dictionaries(st.from_regex(r"[0-9]{2,4}", fullmatch=True), TEXT, max_size=4)
        ),
        checks=draw(st.dictionaries(PARTS, CHECKS, max_size=3)),
        frames=draw(st.integers(1, 10_000)),
    )


SCHEMA_VALIDATOR = jsonschema.Draft202012Validator(json.loads(SCHEMA_PATH.read_text()))


@settings(max_examples=60, deadline=None)
@given(scan_events())
def test_any_valid_event_round_trips_and_matches_the_schema(event: ScanEvent) -> None:
    payload = event.to_payload()
    assert parse_event(payload) == event
    SCHEMA_VALIDATOR.validate(json.loads(payload))
