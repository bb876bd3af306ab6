"""``parse_event``'s fast path accepts exactly what its step-by-step path accepts."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from linetrace.broker.contract import messages as events
from linetrace.broker.contract.messages import parse_event
from linetrace.errors import ContractError

VALID: dict[str, Any] = {
    "schema_version": "1.1",
    "event_id": "0195f2a0-7c00-7000-8000-000000000001",
    "site": "hcm",
    "line": "line1",
    "station": "st1",
    "seq": 1,
    "kind": "read",
    "observed_at": "2026-03-01T08:30:15.123+07:00",
    "symbology": "DataMatrix",
    "text": "0108938500000018",
    "gs1": {"01": "08938500000018"},
    "frames": 2,
}


def payload(**changes: Any) -> bytes:
    document = {**VALID, **changes}
    return json.dumps({k: v for k, v in document.items() if v is not _DROP}).encode()


_DROP = object()


@pytest.mark.parametrize(
    "changes",
    [{}, {"schema_version": "1.9", "lane": [1, {"a": None}]}],
)
def test_both_paths_agree_on_valid_events(changes: dict[str, Any]) -> None:
    fast = parse_event(payload(**changes))
    assert fast == events._parse_with_reasons(payload(**changes))
    assert fast.observed_at.utcoffset() is not None
    assert fast.observed_at.astimezone(UTC) == datetime(2026, 3, 1, 1, 30, 15, 123000, UTC)


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (payload(schema_version=_DROP), "schema_version None is missing"),
        (payload(schema_version="2.0"), "unsupported major version"),
        (payload(seq=0), "seq"),
        (payload(text="\ud800"), "lone surrogate"),
        (b'{"schema_version": "1.1", "seq": NaN}', "NaN is not a JSON number"),
        # Strict: the schema's integer is neither a string nor a float.
        (payload(seq="7"), "seq: Input should be a valid integer"),
        (payload(frames=3.0), "frames: Input should be a valid integer"),
        (b"\xef\xbb\xbf" + payload(), "not JSON"),
    ],
)
def test_refusals_keep_the_step_by_step_reasons(raw: bytes, reason: str) -> None:
    with pytest.raises(ContractError, match=reason) as caught:
        parse_event(raw)
    with pytest.raises(ContractError) as again:
        events._parse_with_reasons(raw)
    assert caught.value.reason == again.value.reason
