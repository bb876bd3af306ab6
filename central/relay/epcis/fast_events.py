"""The lot export's fast path: a read of a serialised item as EPCIS text without dicts.

A lot of a million events spends most of its time mapping each stored read to a dict,
hashing that dict (the CBV 2.0 pre-hash walks it generically) and encoding it. Yet the
reads of one station, batch and product differ only in five values: the time, the serial
(in the item's Digital Link), ``lt:seq``, ``lt:eventId`` and so the eventID. So the first
read of each such *shape* is mapped by the generic :func:`~.mapping.map_row` and its JSON
and pre-hash string are cut around those five values into a :class:`_Template`; every
later read of the shape is the template's text with its own values put back, then one
SHA-256. The output is the generic path's byte for byte:

- the static text comes from the generic path itself (the shape's first read);
- a shape is only taken when the cut is unambiguous, else its reads go the generic way;
- a read is only taken when its values need no escaping nor canonicalising (an ASCII
  letters-and-digits serial, a seq a float holds exactly), so the value written is the
  value hashed; tests compare both paths on generated events.

Flows in: one stored read (columns :data:`FIELDS`) with its station's facts and batch.
Flows out: its (eventID, eventTime, JSON text), or None when the generic path must map it.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.documents import encode
from linetrace.central.relay.epcis.hashing import HASH_PREFIX, HASH_SUFFIX, Hasher
from linetrace.central.relay.epcis.mapping import MappedEvent, StationFacts, map_row
from linetrace.central.relay.epcis.vocabulary import ADDED_ROLES, LINETRACE_NS

__all__ = ["FIELDS", "FastEvents", "Row", "generic_row", "stored_time", "uuid_text"]

# The columns the export reads, in this order (see lot_export's query). ``event_id`` comes
# as text (hex digits, or the dashed form), ``observed_at`` as UTC text
# ``YYYY-MM-DD HH:MM:SS.ffffff`` on both backends, ``payload`` as JSON text: what the
# drivers give without building objects. The payload is None where the mapping needs
# nothing of it (lot_export's query says where).
FIELDS = (
    "event_id", "site", "line", "station", "seq", "kind", "observed_at", "utc_offset_s",
    "symbology", "gtin", "serial", "lot", "sscc", "expiry", "payload",
)  # fmt: skip
Row = Sequence[Any]
_SEQ = "{" + LINETRACE_NS + "}seq="
_EVENT_ID = "{" + LINETRACE_NS + "}eventId="
_EXACT = 2**53  # a seq beyond this is canonicalised through a float: not ours to guess
_LINK = "https://id.gs1.org/01/"
_TIME_TEXT = len("2025-03-01 01:00:00.010000")
_SECONDS_KEPT = 4096  # local-time prefixes by UTC second (events share their second)


def uuid_text(stored: object) -> str:
    """The dashed form ``str(UUID)`` gives, from the text a backend stores."""
    text = str(stored)
    if len(text) == 36 and text.islower():
        return text
    if len(text) == 32:
        return f"{text[:8]}-{text[8:12]}-{text[12:16]}-{text[16:20]}-{text[20:]}".lower()
    return text.lower() if len(text) == 36 else str(UUID(text))


def stored_time(text: str) -> datetime:
    """An ``observed_at`` as read (UTC text) as the aware time the generic path takes."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def generic_row(row: Row) -> dict[str, Any]:
    """A fetched row as the generic mapping reads it (UUID, aware time, payload decoded)."""
    found = dict(zip(FIELDS, row, strict=True))
    found["event_id"] = UUID(uuid_text(row[0]))
    found["observed_at"] = stored_time(row[6])
    payload = row[14]
    found["payload"] = {} if payload is None else json.loads(payload)
    return found


@dataclass(frozen=True, slots=True)
class _Template:
    """One shape's text around its per-read values: JSON and pre-hash cut in pieces."""

    delta: timedelta  # UTC -> the station's local time
    offset: str  # "+07:00"
    json_time_end: str  # '","eventTimeZoneOffset":"+07:00","epcList":["https://…/21/'
    json_mid: str  # '"],"action":…,"lt:seq":'
    json_tail: str  # '"' + what follows lt:eventId + '}'
    hash_offset: str  # 'eventTimeZoneOffset=+07:00epcListepc=https://…/21/'
    hash_a: str  # after the link, up to the eventId piece
    hash_b: str  # between the eventId value and the seq piece
    hash_c: str  # after the seq value
    seconds: dict[str, str] = field(default_factory=dict)  # UTC second -> local, kept


class FastEvents:
    """Templates per shape for one export (one hasher, one station table)."""

    def __init__(self, hasher: Hasher) -> None:
        self._hasher = hasher
        self._templates: dict[tuple[Any, ...], _Template | None] = {}

    def event(
        self,
        row: Row,
        uuid: str,
        station: StationFacts | None,
        batch: Batch | None,
        *,
        text: bool,
    ) -> tuple[str, str, str | None] | None:
        """(eventID, eventTime, JSON text if ``text``) of a plain read, or None: map it
        the generic way (so is the first read of each shape: its template comes of it).
        ``uuid``: the row's event id as :func:`uuid_text` gives it."""
        serial = row[10]
        seq = row[4]
        at = row[6]
        if (
            row[5] != "read"
            or serial is None
            or row[9] is None
            or not (serial.isascii() and serial.isalnum())
            or not -_EXACT < seq < _EXACT
            or len(at) != _TIME_TEXT
        ):
            return None
        role = station.role if station is not None else None
        adds = role is not None and role.lower() in ADDED_ROLES
        key = (
            row[1], row[2], row[3], None if batch is None else batch.id, row[9], row[11],
            row[12], row[13], _produced(row[14]) if adds else None, row[8], row[7],
        )  # fmt: skip
        if key not in self._templates:
            self._templates[key] = self._template(row, station, batch)
            return None
        template = self._templates[key]
        if template is None:
            return None
        second = at[:19]
        prefix = template.seconds.get(second)
        if prefix is None:
            prefix = _second(template, second)
        local = f"{prefix}{at[19:23]}{template.offset}"
        seq_text = str(seq)
        prehash = (
            f"eventType=ObjectEventeventTime={at[:10]}T{at[11:23]}Z{template.hash_offset}"
            f"{serial}{template.hash_a}{_EVENT_ID}{uuid}{template.hash_b}{_SEQ}{seq_text}"
            f"{template.hash_c}"
        )
        event_id = HASH_PREFIX + hashlib.sha256(prehash.encode()).hexdigest() + HASH_SUFFIX
        if not text:
            return event_id, local, None
        body = (
            f'{{"eventID":"{event_id}{_JSON_HEAD}{local}{template.json_time_end}{serial}'
            f'{template.json_mid}{seq_text},"lt:eventId":"{uuid}{template.json_tail}'
        )
        return event_id, local, body

    def _template(
        self, row: Row, station: StationFacts | None, batch: Batch | None
    ) -> _Template | None:
        mapped = map_row(generic_row(row), station, (), batch, self._hasher)
        return None if mapped is None else _cut(mapped, row, self._hasher)


_JSON_HEAD = '","type":"ObjectEvent","eventTime":"'


def _second(template: _Template, second: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a UTC second in the template's station time (kept: a
    line's events share their seconds)."""
    if len(template.seconds) >= _SECONDS_KEPT:
        template.seconds.clear()
    local = (datetime.fromisoformat(second) + template.delta).isoformat(timespec="seconds")
    template.seconds[second] = local
    return local


def _produced(payload: object) -> object:
    """AI 11 of the payload (what the generic mapping takes for ILMD), as a shape key."""
    if isinstance(payload, str):
        if '"11"' not in payload:
            return None
        payload = json.loads(payload)
    gs1 = payload.get("gs1") if isinstance(payload, Mapping) else None
    return gs1.get("11") if isinstance(gs1, Mapping) else None


def _split(text: str, marker: str) -> tuple[str, str] | None:
    """``text`` around the one occurrence of ``marker``; None when not exactly one."""
    if text.count(marker) != 1:
        return None
    before, _, after = text.partition(marker)
    return before, after


def _cut(mapped: MappedEvent, row: Row, hasher: Hasher) -> _Template | None:
    """The template of ``row``'s shape from its generic mapping, or None if the cut is
    not unambiguous (then the shape's reads all go the generic way)."""
    body = mapped.body
    at = stored_time(row[6])
    local, offset = body["eventTime"], body["eventTimeZoneOffset"]
    uuid, seq, serial = uuid_text(row[0]), str(row[4]), row[10]
    link = f"{_LINK}{row[9]}/21/"
    delta = timedelta(minutes=round(row[7] / 60))
    if (
        body["type"] != "ObjectEvent"
        or body.get("epcList") != [link + serial]
        or local != (at + delta).isoformat(timespec="milliseconds")[:-6] + offset
    ):
        return None
    text = encode(body).decode()
    opening = '{"eventID":"' + mapped.epcis_event_id + _JSON_HEAD + local
    link_at = text.find(f'"epcList":["{link}')
    seq_id = f',"lt:seq":{seq},"lt:eventId":"{uuid}'
    if not text.startswith(opening) or link_at < 0:
        return None
    time_end = text[len(opening) : link_at] + f'"epcList":["{link}'
    rest = text[link_at + len(f'"epcList":["{link}') :]
    json_cut = _split(rest[len(serial) :], seq_id) if rest.startswith(serial + '"]') else None
    prehash = hasher.prehash(body)
    head = "eventType=ObjectEventeventTime=" + at.isoformat(timespec="milliseconds")[:-6] + "Z"
    epc = "epcListepc=" + link
    cut = _split(prehash[len(head) :], epc + serial) if prehash.startswith(head) else None
    first = _split(cut[1], _EVENT_ID + uuid) if cut is not None else None
    second = _split(first[1], _SEQ + seq) if first is not None else None
    if json_cut is None or cut is None or first is None or second is None:
        return None
    return _Template(
        delta=delta,
        offset=offset,
        json_time_end=time_end,
        json_mid=json_cut[0] + ',"lt:seq":',
        json_tail=json_cut[1],
        hash_offset=cut[0] + epc,
        hash_a=first[0],
        hash_b=second[0],
        hash_c=second[1],
    )
