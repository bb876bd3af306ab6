"""One fuzz input through central's admission of a message, and the checks on what became of it.

An input is one byte that picks the topic, then the payload as it came off the broker. It
travels between two valid events of a registered station, in one batch, through
``write_batch`` (parse, validate, store on SQLite, or dead-letter: what central's ingest
runs) on a real migrated database. What must hold, whatever the bytes:

- ``write_batch`` returns (nothing a station sends may stop the ingest);
- every message is stored, a repeat, or dead-lettered with a reason, and the two valid
  neighbours are stored: one bad message costs nobody else;
- no message needed the fallbacks meant for the unforeseen ("could not be checked", "the
  database refused"): validation must refuse, with its own reason, all it cannot store;
- what was stored is served again by ``/api/events``, and what was refused by
  ``/api/dead-letters``, as the JSON the API sends (strict, UTF-8).

Any broken rule raises, which the fuzzer reports with the input that caused it.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from pydantic import BaseModel
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import (
    AckWatermark,
    BatchAnnouncement,
    ScanEvent,
    StationStatus,
    parse_event,
)
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.central.api.dead_letters import get_dead_letters
from linetrace.central.api.events import list_events
from linetrace.central.auth.principal import Principal
from linetrace.central.auth.roles import Role
from linetrace.central.derive.stations import register_station
from linetrace.central.ingest.write_batch import BatchOptions, Inbound, write_batch
from linetrace.central.store import dead_letters, events, open_engine, upgrade
from linetrace.errors import ContractError
from tests.central.helpers import GTIN, HCM, STATION, make_event
from tests.central.trace_helpers import item, pack, sscc

__all__ = ["TOPIC_MODES", "Admission", "dictionary", "seed_inputs"]

# What the first byte of an input (modulo their number) picks as the message's topic.
TOPIC_MODES = (
    "registered",  # the events topic of the registered station
    "own",  # the events topic of the station the payload names, registered on sight
    "stranger",  # the events topic of a station nobody registered
    "status",  # the registered station's status topic
    "raw",  # the payload's first line is the topic (the broker hands out only UTF-8)
)
# Reasons that mean the message reached a fallback for the unforeseen, not a refusal.
UNFORESEEN = ("the message could not be checked", "the database refused the event")
STRANGER = "hcm9/L9/nobody"
RECEIVED = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)
# Neighbours' seqs, far above those of the seeds, so they never look like repeats.
_NEIGHBOUR_SEQS = 10**12
# Inputs per database: the events kept in one stay few enough that checking what the API
# serves (a page of the events of one station and instant) costs the same on every input.
FRESH_EVERY = 2000
NEIGHBOURS_AT = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)

# The API as an unscoped reader calls it (the guard is not in the loop here).
READER = Principal(name="fuzz", role=Role.AUDITOR)


class Admission:
    """A migrated SQLite database with one registered station, and the checks of one input."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._seqs = itertools.count(_NEIGHBOUR_SEQS)
        self._runs = 0
        self.engine = self._fresh_database()

    def _fresh_database(self) -> Engine:
        """A new migrated database (the last one removed) with STATION registered."""
        for old in self._folder.glob("central.db*"):
            old.unlink()
        url = f"sqlite:///{self._folder / 'central.db'}"
        upgrade(url)
        engine = open_engine(url)
        with engine.begin() as connection:
            register_station(connection, StationId.parse(STATION))
        self._last_letter = 0
        return engine

    def run(self, data: bytes) -> None:
        """Admit ``data`` as central would; raise AssertionError if a rule above breaks."""
        self._runs += 1
        if self._runs % FRESH_EVERY == 0:
            self.engine.dispose()
            self.engine = self._fresh_database()
        message_topic, payload, options = _message(data)
        first, last = (self._neighbour() for _ in range(2))
        batch = [
            Inbound(_events_topic(STATION), first.to_payload(), RECEIVED),
            Inbound(message_topic, payload, RECEIVED),
            Inbound(_events_topic(STATION), last.to_payload(), RECEIVED),
        ]
        result = write_batch(self.engine, batch, options)
        assert {first.event_id, last.event_id} <= result.new_event_ids, result.refused
        assert result.stored + result.duplicates + len(result.refused) == len(batch)
        assert len(result.dead_letters) == len(result.refused)
        for reason in result.refused.values():
            assert reason.strip(), "a dead letter without a reason"
            assert not reason.startswith(UNFORESEEN), reason
        if 1 in result.refused:
            self._check_letters(len(result.refused))
        else:
            self._check_served(parse_event(payload))

    def _neighbour(self) -> ScanEvent:
        seq = next(self._seqs)
        return make_event(seq, observed_at=NEIGHBOURS_AT + timedelta(microseconds=seq))

    def _check_served(self, event: ScanEvent) -> None:
        """The stored event of that id (a repeat's first copy) comes back from ``/api/events``."""
        with self.engine.connect() as connection:
            row = connection.execute(
                sa.select(
                    events.c.site, events.c.line, events.c.station, events.c.observed_at
                ).where(events.c.event_id == event.event_id)
            ).one_or_none()
        assert row is not None, f"event {event.event_id} admitted but not stored"
        since = row.observed_at
        try:
            until: datetime | None = since + timedelta(microseconds=1)
        except OverflowError:
            until = None
        station = f"{row.site}/{row.line}/{row.station}"
        served = set()
        for page in _pages(self.engine, station, since, until):
            served |= {item["event_id"] for item in page["events"]}
        assert str(event.event_id) in served, f"event {event.event_id} not served"

    def _check_letters(self, count: int) -> None:
        """The new dead letters are in the table, and ``/api/dead-letters`` serves them."""
        page = get_dead_letters(
            self.engine,
            READER,
            reason_prefix=None,
            include_replayed=True,
            before_id=None,
            limit=count,
        )
        body = _served(page)
        new = [letter for letter in body["dead_letters"] if letter["id"] > self._last_letter]
        assert len(new) == count, f"{count} refused, {len(new)} dead letters stored"
        with self.engine.connect() as connection:
            newest = connection.execute(sa.select(sa.func.max(dead_letters.c.id))).scalar_one()
        self._last_letter = newest


def _pages(
    engine: Engine, station: str, since: datetime, until: datetime | None
) -> Iterator[dict[str, Any]]:
    """Every page ``/api/events`` answers for one station and instant, as sent."""
    cursor = None
    while True:
        page = list_events(
            engine,
            READER,
            station=station,
            code=None,
            kind=None,
            since=since,
            until=until,
            limit=1000,
            cursor=cursor,
        )
        body = _served(page)
        yield body
        cursor = body["next_cursor"]
        if cursor is None:
            return


def _served(model: BaseModel) -> dict[str, Any]:
    """``model`` as the API's JSON response renders it (strict JSON, UTF-8), read back."""
    text = json.dumps(
        model.model_dump(mode="json"), ensure_ascii=False, allow_nan=False, separators=(",", ":")
    )
    body: dict[str, Any] = json.loads(text.encode("utf-8"))
    return body


def _message(data: bytes) -> tuple[str, bytes, BatchOptions]:
    """The topic, payload and ingest options an input stands for."""
    mode = TOPIC_MODES[data[0] % len(TOPIC_MODES)] if data else "registered"
    payload = data[1:]
    if mode == "own":
        return _events_topic(_named_station(payload)), payload, BatchOptions(auto_register=True)
    if mode == "stranger":
        return _events_topic(STRANGER), payload, BatchOptions()
    if mode == "status":
        return topic(StationId.parse(STATION), Channel.STATUS), payload, BatchOptions()
    if mode == "raw":
        line, _, rest = payload.partition(b"\n")
        return line.decode("utf-8", "replace"), rest, BatchOptions()
    return _events_topic(STATION), payload, BatchOptions()


def _named_station(payload: bytes) -> str:
    """The station a payload names, as a station would publish it; STATION if none."""
    try:
        return str(parse_event(payload).station_id)
    except ContractError:
        return STATION


def _events_topic(station: str) -> str:
    return topic(StationId.parse(station), Channel.EVENTS)


def seed_inputs() -> dict[str, bytes]:
    """Inputs made from real contract messages, named for the corpus folder."""
    at = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
    messages: dict[str, bytes] = {
        "read": make_event(1).to_payload(),
        "read-expiry": item(2, "000002", at, expiry=at.date()).to_payload(),
        "noread": make_event(3, kind="noread", snapshot="snapshots/3.jpg").to_payload(),
        "pack": pack(4, sscc(1), [{"01": GTIN, "21": "000001"}], at, station=STATION).to_payload(),
        "checked": make_event(
            5, checks={"batch": {"passed": False, "detail": "lot L2612 expected"}}
        ).to_payload(),
        "additive": make_event(6, note={"operator": "Lan", "tags": ["a", 1.5, None]}).to_payload(),
        "plain-text": make_event(7, text="hello", gs1=None, symbology="QRCode").to_payload(),
        "status": StationStatus(state="online", at=at, metrics={"fps": 30.0}).to_payload(),
        "ack": AckWatermark(seq=7, at=at).to_payload(),
        "batch": BatchAnnouncement(
            batch_id="b1", gtin=GTIN, lot="L2611", started_at=at
        ).to_payload(),
    }
    seeds: dict[str, bytes] = {}
    for name, payload in messages.items():
        seeds[f"{name}-registered"] = bytes([0]) + payload
        seeds[f"{name}-own"] = bytes([1]) + payload
    seeds["read-stranger"] = bytes([2]) + messages["read"]
    seeds["status-on-status"] = bytes([3]) + messages["status"]
    seeds["read-raw-topic"] = (
        bytes([4]) + _events_topic(STATION).encode() + b"\n" + messages["read"]
    )
    return seeds


def dictionary() -> list[str]:
    """Tokens for libFuzzer's mutations: the contract's field names and JSON's edge cases."""
    fields = [*ScanEvent.model_fields, "passed", "detail", "state", "at", "metrics"]
    edges = ["NaN", "-Infinity", "1e400", "\\ud800", "\\udc00", "\\u0000", "true", "null"]
    edges += ["[[[[[[[[", "]]]]]]]]", '{"a":{"a":', "2025-03-01T08:00:00+07:00", "\x1d", "]d2"]
    return [f'"{name}":' for name in fields] + edges
