"""A page of a lot's stored rows as EPCIS text or CSV rows: fast path first, generic after.

Flows in: pages of ``events`` rows in the columns of :data:`~.fast_events.FIELDS` (the
payload still JSON text), and the ids of the lot's events with failed checks.
Flows out: each relayable event's JSON text, or each event's CSV row.

Per page it reads what the mapping needs besides the rows, as the relay's
:func:`~.sources.facts_for` does, but cheaper for a lot's million rows: stations once per
export, each line's batches once per export, failed checks only for the
rows that have any. Each read then goes through
:class:`~.fast_events.FastEvents`; what that declines (packs, failed checks, unusual
codes, each shape's first read) through the generic :func:`~.mapping.map_row`.
"""

from __future__ import annotations

import csv
import io
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
    StationKey,
    generic_row,
    uuid_text,
)
from linetrace.central.relay.epcis.hashing import Hasher
from linetrace.central.relay.epcis.mapping import FailedCheck, StationFacts, event_time, map_row
from linetrace.central.relay.epcis.sources import facts_for
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT
from linetrace.central.store.tables import stations

__all__ = ["LotRows"]


class LotRows:
    """One export's mapping of pages: station facts and shape templates kept across pages."""

    def __init__(self, connection: Connection, checked: set[str]) -> None:
        self._connection = connection
        self._checked = checked
        self._stations: dict[StationKey, StationFacts | None] = {}
        self._batches: dict[_Line, list[_Window]] = {}
        self._hasher = Hasher(EPCIS_CONTEXT)
        self._fast = FastEvents(self._hasher, self._station)

    def epcis(self, rows: Sequence[Row]) -> list[str]:
        """The JSON text of each relayable event of the page, in order."""
        if not rows:
            return []
        batch_of, failed = _PageBatches(rows, self._line_batches), self._failed(rows)
        bodies, declined = self._fast.page(rows, batch_of, failed, text=True)
        for index in declined:
            row = rows[index]
            checks = failed.get(uuid_text(row[0]), ())
            station = self._station((row[1], row[2], row[3]))
            mapped = map_row(generic_row(row), station, checks, batch_of(row), self._hasher)
            bodies[index] = None if mapped is None else encode(mapped.body).decode()
        return [body for body in bodies if body is not None] if declined else bodies  # type: ignore[return-value]

    def csv(self, rows: Sequence[Row]) -> str:
        """The page as CSV text: one line per event (lot_export's ``CSV_COLUMNS``)."""
        if not rows:
            return ""
        batch_of, failed = _PageBatches(rows, self._line_batches), self._failed(rows)
        lines, declined = self._fast.page(rows, batch_of, failed, text=False)
        if declined:
            out = io.StringIO()
            writer = csv.writer(out)
            for index in declined:
                row = rows[index]
                checks = failed.get(uuid_text(row[0]), ())
                writer.writerow(self._csv_row(row, batch_of(row), checks))
                lines[index] = out.getvalue()
                out.seek(0)
                out.truncate()
        return "".join(lines)  # type: ignore[arg-type]

    def _csv_row(
        self, row: Row, batch: Batch | None, failed: Sequence[FailedCheck]
    ) -> tuple[Any, ...]:
        """A row the generic path maps, as the csv writer takes it."""
        generic = generic_row(row)
        station = self._station((row[1], row[2], row[3]))
        mapped = map_row(generic, station, failed, batch, self._hasher)
        event_id = "" if mapped is None else mapped.epcis_event_id
        when = event_time(generic["observed_at"], row[7])[0]
        listed = generic["payload"].get("children") if row[5] == "pack" else None
        children = "" if listed is None else len(listed)
        return (
            when, f"{row[1]}/{row[2]}/{row[3]}", row[5], row[9] or "", row[11] or "",
            row[10] or "", row[12] or "", children, _checks(failed), event_id, uuid_text(row[0]),
        )  # fmt: skip

    def _line_batches(self, line: _Line) -> list[_Window]:
        """A line's batches, read once per export (a line has few; a page, many rows)."""
        if line not in self._batches:
            found = batches_overlapping(self._connection, {line}, *_ALL_TIME)
            self._batches[line] = [
                (_text(b.started_at), None if b.closed_at is None else _text(b.closed_at), b)
                for b in sorted(found, key=lambda b: b.id)
            ]
        return self._batches[line]

    def _station(self, key: StationKey) -> StationFacts | None:
        if key in self._stations:
            return self._stations[key]
        statement = sa.select(stations.c.gln, stations.c.role).where(
            stations.c.site == key[0], stations.c.line == key[1], stations.c.station == key[2]
        )
        found = self._connection.execute(statement).first()
        self._stations[key] = None if found is None else StationFacts(found.gln, found.role)
        return self._stations[key]

    def _failed(self, rows: Sequence[Row]) -> dict[str, list[FailedCheck]]:
        if not self._checked:
            return {}
        checked = [generic_row(row) for row in rows if uuid_text(row[0]) in self._checked]
        if not checked:
            return {}
        return {str(key): found for key, found in facts_for(self._connection, checked)[1].items()}


class _PageBatches:
    """The batch open on a row's line at its time, for one page's rows (in time order),
    comparing the rows' UTC texts with the batches' in the same form."""

    def __init__(self, rows: Sequence[Row], of_line: Callable[[_Line], list[_Window]]) -> None:
        first, last = rows[0][6], rows[-1][6]
        self._by_line: dict[_Line, list[_Window]] = {}
        edges: list[str] = []
        for line in {(row[1], row[2]) for row in rows}:
            windows = [
                (started, closed, batch)
                for started, closed, batch in of_line(line)
                if started <= last and (closed is None or closed > first)
            ]
            self._by_line[line] = windows
            for started, closed, _ in windows:
                edges += [started] if closed is None else [started, closed]
        self._steady = not any(first < edge <= last for edge in edges)

    @property
    def steady(self) -> bool:
        return self._steady

    def __call__(self, row: Row) -> Batch | None:
        at = row[6]
        for started, closed, batch in self._by_line.get((row[1], row[2]), ()):
            if started <= at and (closed is None or at < closed):
                return batch
        return None


_Line = tuple[str, str]
_Window = tuple[str, str | None, Batch]  # started, closed (UTC texts), the batch
_ALL_TIME = (datetime(1, 1, 2, tzinfo=UTC), datetime(9999, 12, 30, tzinfo=UTC))


def _text(moment: datetime) -> str:
    """An aware time as the UTC text rows carry (``YYYY-MM-DD HH:MM:SS.ffffff``)."""
    return moment.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _checks(found: Sequence[FailedCheck]) -> str:
    if not found:
        return "passed"
    return "failed: " + "; ".join(f"{f.source}/{f.check}: {f.detail}" for f in found)
