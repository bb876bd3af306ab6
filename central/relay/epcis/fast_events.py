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

Flows in: a page of stored rows (columns :data:`FIELDS`), its batches and failed checks.
Flows out: each plain read's JSON text or CSV line; which rows the generic path must map.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import operator
from collections.abc import Callable, Container, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol
from uuid import UUID

from linetrace.central.derive.production_batches import Batch
from linetrace.central.relay.epcis.documents import encode
from linetrace.central.relay.epcis.hashing import HASH_PREFIX, HASH_SUFFIX, Hasher
from linetrace.central.relay.epcis.mapping import MappedEvent, StationFacts, map_row
from linetrace.central.relay.epcis.vocabulary import LINETRACE_NS

__all__ = [
    "FIELDS",
    "FastEvents",
    "PageBatches",
    "Row",
    "StationKey",
    "generic_row",
    "stored_time",
    "uuid_text",
]

# The columns the export reads, in this order (see lot_export's query). ``event_id`` comes
# as text (hex digits, or the dashed form), ``observed_at`` as UTC text
# ``YYYY-MM-DD HH:MM:SS.ffffff`` on both backends, ``payload`` as JSON text: what the
# drivers give without building objects. The payload is None for reads: the one value of
# it a read's mapping takes, AI 11 (a production date) at a station that commissions
# codes, comes as ``produced`` (lot_export's query picks it out).
FIELDS = (
    "event_id", "site", "line", "station", "seq", "kind", "observed_at", "utc_offset_s",
    "symbology", "gtin", "serial", "lot", "sscc", "expiry", "payload", "produced",
)  # fmt: skip
Row = Sequence[Any]
StationKey = tuple[str, str, str]  # site, line, station
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
    payload, produced = row[14], found.pop("produced")
    if payload is not None:
        found["payload"] = json.loads(payload)
    else:
        found["payload"] = {} if produced is None else {"gs1": {"11": produced}}
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
    csv: tuple[str, str, str] | None  # a CSV line around time, serial, eventID and event id
    seconds: dict[str, str] = field(default_factory=dict)  # UTC second -> local, kept

    def parts(self) -> tuple[str, str, str, str, str, str, str, str, tuple[str, str, str] | None]:
        """The pieces, in the order the export's loop unpacks them once per run of rows."""
        return (
            self.offset, self.json_time_end, self.json_mid, self.json_tail, self.hash_offset,
            self.hash_a, self.hash_b, self.hash_c, self.csv,
        )  # fmt: skip


class PageBatches(Protocol):
    """The batch open on each row's line at its time, for one page (lot_rows builds it)."""

    @property
    def steady(self) -> bool:
        """No batch starts or ends inside the page: each line's rows share one batch."""

    def __call__(self, row: Row) -> Batch | None: ...


class FastEvents:
    """Templates per shape for one export (one hasher; station facts by station key)."""

    def __init__(self, hasher: Hasher, station_of: Callable[[StationKey], StationFacts | None]):
        self._hasher = hasher
        self._station_of = station_of
        self._templates: dict[tuple[Any, ...], _Template | None] = {}

    def page(
        self, rows: Sequence[Row], batch_of: PageBatches, failed: Container[str], *, text: bool
    ) -> tuple[list[str | None], list[int]]:
        """Each row's JSON text (``text``) or CSV line, and the indexes of the rows left
        None for the generic path: all but plain reads, reads with ``failed`` checks (by
        dashed event id), and each shape's first read (its template comes of it).

        One loop with its lookups hoisted: at a million rows each attribute or call per
        row is a measurable share of the export.
        """
        done: list[str | None] = []
        declined: list[int] = []
        append, decline = done.append, declined.append
        known: dict[tuple[Any, ...], _Template | None] = {}  # this page's shapes
        steady, sha256, prefix, suffix = batch_of.steady, hashlib.sha256, HASH_PREFIX, HASH_SUFFIX
        last_shape: tuple[Any, ...] | None = None
        last_second: str | None = None
        template: _Template | None = None
        second_text = offset = time_end = json_mid = json_tail = hash_offset = hash_a = ""
        hash_b = hash_c = ""
        csv_parts: tuple[str, str, str] | None = None
        for index, row in enumerate(rows):
            serial, seq, at, uuid = row[10], row[4], row[6], row[0]
            if len(uuid) == 32:  # SQLite's hex digits (lower case: SQLAlchemy writes them)
                uuid = f"{uuid[:8]}-{uuid[8:12]}-{uuid[12:16]}-{uuid[16:20]}-{uuid[20:]}".lower()
            elif len(uuid) != 36 or not uuid.islower():
                uuid = uuid_text(uuid)
            if (
                serial is None
                or not (serial.isascii() and serial.isalnum())
                or not -_EXACT < seq < _EXACT
                or len(at) != _TIME_TEXT
                or uuid in failed
            ):
                append(None)
                decline(index)
                continue
            shape = _SHAPE(row)
            if not steady:
                batch = batch_of(row)
                shape = (*shape, None if batch is None else batch.id)
            if shape != last_shape:  # rows of a shape come in runs: one compare, no hash
                template = known.get(shape, _UNSEEN)
                if template is _UNSEEN:
                    template, fresh = self._template_for(row, batch_of(row))
                    known[shape] = template
                    if fresh:
                        last_shape = None
                        append(None)
                        decline(index)
                        continue
                last_shape, last_second = shape, None
                if template is not None:
                    (offset, time_end, json_mid, json_tail, hash_offset, hash_a, hash_b,
                     hash_c, csv_parts) = template.parts()  # fmt: skip
            if template is None or (csv_parts is None and not text):
                append(None)
                decline(index)
                continue
            if at[:19] != last_second:
                last_second = at[:19]
                second_text = template.seconds.get(last_second) or _second(template, last_second)
            local = f"{second_text}{at[19:23]}{offset}"
            seq_text = str(seq)
            prehash = (
                f"eventType=ObjectEventeventTime={at[:10]}T{at[11:23]}Z{hash_offset}"
                f"{serial}{hash_a}{_EVENT_ID}{uuid}{hash_b}{_SEQ}{seq_text}{hash_c}"
            )
            event_id = prefix + sha256(prehash.encode()).hexdigest() + suffix
            if text:
                append(
                    f'{{"eventID":"{event_id}{_JSON_HEAD}{local}{time_end}{serial}{json_mid}'
                    f'{seq_text},"lt:eventId":"{uuid}{json_tail}'
                )
            elif csv_parts is not None:  # (else declined above)
                append(
                    f"{local}{csv_parts[0]}{serial}{csv_parts[1]}{event_id}{csv_parts[2]}{uuid}\r\n"
                )
        return done, declined

    def _template_for(self, row: Row, batch: Batch | None) -> tuple[_Template | None, bool]:
        """The template of the row's shape, and whether it is new: cut from this row,
        which the generic path then maps (the cut needs its generic mapping)."""
        station = self._station_of((row[1], row[2], row[3]))
        key = (*_SHAPE(row), None if batch is None else batch.id)
        if key in self._templates:
            return self._templates[key], False
        template = None
        if row[5] == "read" and row[9] is not None and row[10] is not None:
            mapped = map_row(generic_row(row), station, (), batch, self._hasher)
            template = None if mapped is None else _cut(mapped, row, self._hasher)
        self._templates[key] = template
        return template, True


# The columns that, with the batch, fix a read's shape: station, kind, UTC offset,
# symbology, GTIN, lot, SSCC, expiry, production date.
_SHAPE = operator.itemgetter(1, 2, 3, 5, 7, 8, 9, 11, 12, 13, 15)
_UNSEEN: Any = object()
_JSON_HEAD = '","type":"ObjectEvent","eventTime":"'


def _second(template: _Template, second: str) -> str:
    """``YYYY-MM-DDTHH:MM:SS`` of a UTC second in the template's station time (kept: a
    line's events share their seconds)."""
    if len(template.seconds) >= _SECONDS_KEPT:
        template.seconds.clear()
    local = (datetime.fromisoformat(second) + template.delta).isoformat(timespec="seconds")
    template.seconds[second] = local
    return local


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
        csv=_csv_parts(row),
    )


def _csv_parts(row: Row) -> tuple[str, str, str] | None:
    """A CSV line of the shape (lot_export's columns) cut around its per-read values,
    written by the csv module itself so that its quoting is the generic path's."""
    out = io.StringIO()
    station = f"{row[1]}/{row[2]}/{row[3]}"
    fields = (_AT, station, "read", row[9], row[11] or "", _SERIAL, row[12] or "", "", "passed")
    csv.writer(out).writerow((*fields, _HASH_ID, _OUR_ID))
    line = out.getvalue()
    start = f"{_AT},"
    end = f"{_HASH_ID},{_OUR_ID}\r\n"
    if not (line.startswith(start) and line.endswith(end)):
        return None
    cut = _split(line[len(_AT) : -len(end)], _SERIAL)
    return None if cut is None else (cut[0], cut[1], ",")


# Stand-ins for a read's own values in its shape's CSV line (letters and digits: never
# quoted; a shape whose fixed fields hold one is left to the generic path).
_AT, _SERIAL, _HASH_ID, _OUR_ID = "LTxAT", "LTxSERIAL", "LTxHASHID", "LTxEVENTID"
