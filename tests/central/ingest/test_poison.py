"""No message a station sends can stop the ingest: each is stored or dead-lettered."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest
import sqlalchemy as sa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.engine import Engine

from linetrace.central.derive.on_stored import on_events_stored
from linetrace.central.ingest import write_batch as write_batch_module
from linetrace.central.ingest.validation import accept
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import dead_letters, events
from tests.central.helpers import STATION, events_topic, make_event, register

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION)
    return engine


def inbound(payload: bytes) -> Inbound:
    return Inbound(events_topic(), payload, NOW)


def with_fields(seq: int, raw: dict[str, str] | None = None, /, **fields: Any) -> bytes:
    """A valid event's payload with ``fields`` changed and ``raw`` JSON text spliced in."""
    document = json.loads(make_event(seq).to_payload())
    document.update(fields)
    text = json.dumps(document)
    for name, value in (raw or {}).items():
        text = text[:-1] + f', "{name}": {value}}}'
    return text.encode()


def stored_seqs(engine: Engine) -> list[int]:
    with engine.connect() as connection:
        return sorted(connection.execute(sa.select(events.c.seq)).scalars())


def letter_reasons(engine: Engine) -> list[str]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(dead_letters.c.reason)).scalars())


def test_a_3000_deep_extra_field_is_dead_lettered_and_the_rest_stored(engine: Engine) -> None:
    deep = "[" * 3000 + "]" * 3000
    batch = [inbound(with_fields(1)), inbound(with_fields(2, {"x": deep})), inbound(with_fields(3))]
    result = write_batch(engine, batch)
    assert (result.stored, len(result.dead_letters)) == (2, 1)
    assert stored_seqs(engine) == [1, 3]
    assert "nests deeper" in letter_reasons(engine)[0]


# Item 2: only what can be served again is stored; the same verdict on every backend.
UNSERVABLE = [
    pytest.param({"x": '"\\ud800"'}, "lone surrogate", id="lone-surrogate"),
    pytest.param({"x": '"a\\udfffb"'}, "lone surrogate", id="lone-low-surrogate"),
    pytest.param({"x": "[" * 500 + "]" * 500}, "nests deeper", id="500-deep"),
    pytest.param({"x": "[" * 17 + "]" * 17}, "nests deeper than 16", id="17-deep"),
    pytest.param({"x": "NaN"}, "not a JSON number", id="nan"),
    pytest.param({"x": "-Infinity"}, "not a JSON number", id="infinity"),
    pytest.param({"x": "1e400"}, "not a JSON number", id="overflowing-float"),
    pytest.param({"x": "9" * 5000}, "not strict JSON", id="5000-digit-integer"),
    pytest.param({"x": json.dumps("a" * 20_000)}, "unknown fields take", id="large-extra"),
]


@pytest.mark.parametrize(("raw", "reason"), UNSERVABLE)
def test_unservable_events_are_dead_lettered_with_a_reason(
    engine: Engine, raw: dict[str, str], reason: str
) -> None:
    result = write_batch(engine, [inbound(with_fields(1, raw)), inbound(with_fields(2))])
    assert stored_seqs(engine) == [2]
    assert len(result.dead_letters) == 1
    assert reason in letter_reasons(engine)[0]


def test_extras_within_the_limits_are_stored(engine: Engine) -> None:
    payload = with_fields(1, {"x": "[" * 16 + "1.5" + "]" * 16, "y": '"\\ud83d\\ude00"'})
    assert write_batch(engine, [inbound(payload)]).stored == 1


# Item 3: the contract is exactly its schema (integer, date-time string, boolean).
LOOSE = [
    pytest.param({"seq": "10200000"}, "seq", id="seq-string"),
    pytest.param({"seq": True}, "seq", id="seq-true"),
    pytest.param({"seq": 5.0}, "seq", id="seq-float"),
    pytest.param({"frames": "3"}, "frames", id="frames-string"),
    pytest.param({"observed_at": 1764000000}, "observed_at", id="observed-at-unix"),
    pytest.param({"checks": {"batch": {"passed": "yes"}}}, "checks.batch.passed", id="passed-yes"),
]


@pytest.mark.parametrize(("fields", "where"), LOOSE)
def test_loosely_typed_fields_are_refused(
    engine: Engine, fields: dict[str, Any], where: str
) -> None:
    result = write_batch(engine, [inbound(with_fields(7, **fields))])
    assert result.stored == 0
    assert letter_reasons(engine)[0].startswith(f"invalid event: {where}:")


def test_an_unexpected_error_checking_one_message_dead_letters_it_alone(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:

    def exploding(topic: str, payload: bytes) -> Any:
        if b'"seq": 2,' in payload:
            raise RecursionError("maximum recursion depth exceeded")
        return accept(topic, payload)

    monkeypatch.setattr(write_batch_module, "accept", exploding)
    result = write_batch(engine, [inbound(with_fields(n)) for n in (1, 2, 3)])
    assert stored_seqs(engine) == [1, 3]
    assert len(result.dead_letters) == 1
    assert "RecursionError" in letter_reasons(engine)[0]


def test_a_batch_failing_as_a_whole_is_halved_until_the_culprit_is_found(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Any error while writing (not only a database refusal) isolates the one message."""
    writes = []

    def failing(connection: Any, rows: Any) -> None:
        writes.append(len(rows))
        if any(row["seq"] == 11 for row in rows):
            raise TypeError("derivation failed on this event")
        on_events_stored(connection, rows)

    monkeypatch.setattr(write_batch_module, "on_events_stored", failing)
    batch = [inbound(with_fields(n)) for n in range(1, 33)]
    result = write_batch(engine, batch)
    assert stored_seqs(engine) == [n for n in range(1, 33) if n != 11]
    assert [letter.payload for letter in result.dead_letters] == [batch[10].payload]
    assert "TypeError: derivation failed" in letter_reasons(engine)[0]
    assert len(writes) <= 1 + 2 * 5 + 1  # halving: about 2·log2(32) writes, not 32


JSON = st.recursive(
    st.none() | st.booleans() | st.floats() | st.integers() | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=30,
)
FIELDS = ["seq", "frames", "observed_at", "kind", "text", "gs1", "checks", "children", "extra"]


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """Raw bytes, or a valid event with a field replaced by arbitrary JSON."""
    if draw(st.booleans()):
        return draw(st.binary(max_size=300))
    document = json.loads(make_event(draw(st.integers(1, 10**6))).to_payload())
    document[draw(st.sampled_from(FIELDS))] = draw(JSON)
    text = json.dumps(document)
    if draw(st.booleans()):  # deep nesting, which json.dumps would not make itself
        depth = draw(st.integers(0, 3000))
        text = text[:-1] + ', "deep": ' + "[" * depth + "]" * depth + "}"
    return text.encode("utf-8", "surrogatepass")


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(batch=st.lists(payloads(), min_size=1, max_size=5))
def test_any_payload_is_stored_or_dead_lettered_never_raised(
    engine: Engine, batch: list[bytes]
) -> None:
    result = write_batch(engine, [inbound(payload) for payload in batch])
    refused = set(result.refused)
    assert len(result.dead_letters) == len(refused)
    assert result.stored + result.duplicates + len(refused) == len(batch)
