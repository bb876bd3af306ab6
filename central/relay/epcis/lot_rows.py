"""A page of a lot's stored rows as EPCIS text or CSV rows: fast path first, generic after.

Flows in: pages of ``events`` rows in the columns of :data:`~.fast_events.FIELDS` (the
payload still JSON text), and the ids of the lot's events with failed checks.
Flows out: each relayable event's JSON text, or each event's CSV row.

Per page it reads what the mapping needs besides the rows, as the relay's
:func:`~.sources.facts_for` does, but cheaper for a lot's million rows: stations once per
export, the batches open on the page's lines in one query, failed checks only for the
rows that have any. Each read then goes through
:class:`~.fast_events.FastEvents`; what that declines (packs, failed checks, unusual
codes, each shape's first read) through the generic :func:`~.mapping.map_row`.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.derive.production_batches import Batch, batches_overlapping
from linetrace.central.relay.epcis.documents import encode
from linetrace.central.relay.epcis.fast_events import (
    FastEvents,
    Row,
    generic_row,
    stored_time,
    uuid_text,
)
from linetrace.central.relay.epcis.hashing import Hasher
from linetrace.central.relay.epcis.mapping import FailedCheck, StationFacts, event_time, map_row
from linetrace.central.relay.epcis.sources import facts_for
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT
from linetrace.central.store.tables import stations

__all__ = ["LotRows"]

_Key = tuple[str, str, str]


class LotRows:
    """One export's mapping of pages: station facts and shape templates kept across pages."""

    def __init__(self, connection: Connection, checked: set[str]) -> None:
        self._connection = connection
        self._checked = checked
        self._stations: dict[_Key, StationFacts | None] = {}
        self._hasher = Hasher(EPCIS_CONTEXT)
        self._fast = FastEvents(self._hasher)
        self._csv_parts: dict[tuple[Any, ...], tuple[str, str] | None] = {}

    def epcis(self, rows: Sequence[Row]) -> list[str]:
        """The JSON text of each relayable event of the page, in order."""
        bodies: list[str] = []
        if not rows:
            return bodies
        fast, batch_of, failed, known = (
            self._fast.event,
            self._batches(rows),
            self._failed(rows),
            self._stations,
        )
        for row in rows:
            key = (row[1], row[2], row[3])
            station = known[key] if key in known else self._station(key)
            uuid = uuid_text(row[0])
            batch = batch_of(row)
            checks = failed.get(uuid, ()) if failed else ()
            done = None if checks else fast(row, uuid, station, batch, text=True)
            if done is not None:
                bodies.append(done[2])  # type: ignore[arg-type]
                continue
            mapped = map_row(generic_row(row), station, checks, batch, self._hasher)
            if mapped is not None:
                bodies.append(encode(mapped.body).decode())
        return bodies

    def csv(self, rows: Sequence[Row]) -> str:
        """The page as CSV text: one line per event (lot_export's ``CSV_COLUMNS``)."""
        out = io.StringIO()
        if not rows:
            return ""
        writer = csv.writer(out)
        fast, batch_of, failed, known = (
            self._fast.event,
            self._batches(rows),
            self._failed(rows),
            self._stations,
        )
        for row in rows:
            key = (row[1], row[2], row[3])
            station = known[key] if key in known else self._station(key)
            uuid = uuid_text(row[0])
            batch = batch_of(row)
            checks = failed.get(uuid, ()) if failed else ()
            done = None if checks else fast(row, uuid, station, batch, text=False)
            if done is not None:
                parts_key = (key, row[9], row[11], row[12])
                parts = self._csv_parts.get(parts_key, _NO_PARTS)
                if parts is _NO_PARTS:
                    parts = self._parts(parts_key)
                if parts is not None:
                    out.write(f"{done[1]}{parts[0]}{row[10]}{parts[1]}{done[0]},{uuid}\r\n")
                    continue
            writer.writerow(self._csv_row(row, uuid, station, batch, checks, done))
        return out.getvalue()

    def _csv_row(
        self,
        row: Row,
        uuid: str,
        station: StationFacts | None,
        batch: Batch | None,
        failed: Sequence[FailedCheck],
        done: tuple[str, str, str | None] | None,
    ) -> tuple[Any, ...]:
        """A CSV row the csv writer writes: the generic path's, or a fast read's that
        needs quoting."""
        children: str | int = ""
        if done is not None:
            event_id, when, checks = done[0], done[1], "passed"
        else:
            generic = generic_row(row)
            mapped = map_row(generic, station, failed, batch, self._hasher)
            event_id = "" if mapped is None else mapped.epcis_event_id
            when = event_time(generic["observed_at"], row[7])[0]
            listed = generic["payload"].get("children") if row[5] == "pack" else None
            children = "" if listed is None else len(listed)
            checks = _checks(failed)
        return (
            when, f"{row[1]}/{row[2]}/{row[3]}", row[5], row[9] or "", row[11] or "",
            row[10] or "", row[12] or "", children, checks, event_id, uuid,
        )  # fmt: skip

    def _parts(self, key: tuple[Any, ...]) -> tuple[str, str] | None:
        """The CSV text of a fast read around its time, serial and IDs, when no field
        needs quoting (else None: the csv writer writes the row)."""
        (site, line, station), gtin, lot, sscc = key
        fields = (f"{site}/{line}/{station}", gtin, lot or "", sscc or "")
        parts = None
        if not any(_QUOTED.search(field) for field in fields):
            parts = (f",{fields[0]},read,{gtin},{fields[2]},", f",{fields[3]},,passed,")
        self._csv_parts[key] = parts
        return parts

    def _station(self, key: _Key) -> StationFacts | None:
        statement = sa.select(stations.c.gln, stations.c.role).where(
            stations.c.site == key[0], stations.c.line == key[1], stations.c.station == key[2]
        )
        found = self._connection.execute(statement).first()
        self._stations[key] = None if found is None else StationFacts(found.gln, found.role)
        return self._stations[key]

    def _batches(self, rows: Sequence[Row]) -> Callable[[Row], Batch | None]:
        """A function from a row to the batch open on its line at its time (or None),
        comparing the rows' UTC texts with the batches' in the same form."""
        lines = {(row[1], row[2]) for row in rows}
        times = [stored_time(row[6]) for row in (rows[0], rows[-1])]  # rows come in time order
        by_line: dict[tuple[str, str], list[tuple[str, str | None, Batch]]] = {}
        for batch in batches_overlapping(self._connection, lines, min(times), max(times)):
            closed = None if batch.closed_at is None else _text(batch.closed_at)
            by_line.setdefault(batch.site_line, []).append((_text(batch.started_at), closed, batch))

        def batch_of(row: Row) -> Batch | None:
            at = row[6]
            for started, closed, batch in by_line.get((row[1], row[2]), ()):
                if started <= at and (closed is None or at < closed):
                    return batch
            return None

        return batch_of

    def _failed(self, rows: Sequence[Row]) -> dict[str, list[FailedCheck]]:
        if not self._checked:
            return {}
        checked = [generic_row(row) for row in rows if uuid_text(row[0]) in self._checked]
        if not checked:
            return {}
        return {str(key): found for key, found in facts_for(self._connection, checked)[1].items()}


_NO_PARTS = ("", "")  # not worked out yet
_QUOTED = re.compile(r'[,"\r\n]')


def _text(moment: datetime) -> str:
    """An aware time as the UTC text rows carry (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _checks(found: Sequence[FailedCheck]) -> str:
    if not found:
        return "passed"
    return "failed: " + "; ".join(f"{f.source}/{f.check}: {f.detail}" for f in found)
