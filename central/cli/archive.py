"""Archive one lot: write its export, prove it is on disk and whole, then remove its rows.

The order is the guarantee. Both exports (the lot's EPCIS 2.0 document and its CSV, from
:mod:`linetrace.central.relay.epcis.lot_export`) are written under a temporary name,
fsynced, renamed and their folder fsynced; then read back from disk: the document parsed
event by event (a lot of a million events is never held in memory) and the CSV row by
row, each must hold the number of events written and the two must name the same EPCIS
eventIDs. A manifest (sizes, SHA-256, counts, the rule that made the lot due) is written
the same way. Only then, in one transaction, are the lot's rows removed
(:func:`linetrace.central.store.retention.remove_lot`), and only those of events in the
export: if an event of the lot arrived since, nothing is removed.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote
from uuid import UUID

from sqlalchemy.engine import Engine

from linetrace.central.audit import cli_actor, record
from linetrace.central.query.retention import LotRetention, lot_retention
from linetrace.central.relay.epcis.lot_export import (
    CSV_COLUMNS,
    LotHasNoEvents,
    lot_pages,
    write_csv,
    write_epcis,
)
from linetrace.central.store.retention import RemovedLot, lock_lot, remove_lot
from linetrace.errors import LinetraceError, NotFound
from linetrace.private import PRIVATE_DIR_MODE, PRIVATE_FILE_MODE

__all__ = ["ArchiveRefused", "ArchivedLot", "archive_lot", "file_stem"]

_READ = 1 << 20
_LIST = '"eventList":['


class ArchiveRefused(LinetraceError):
    """The lot is not due, its export did not verify, or it changed meanwhile."""


@dataclass(frozen=True, slots=True)
class ArchivedLot:
    gtin: str
    lot: str
    manifest: Path
    exported: int
    removed: RemovedLot

    def as_json(self) -> dict[str, Any]:
        return {
            "gtin": self.gtin,
            "lot": self.lot,
            "manifest": str(self.manifest),
            "exported": self.exported,
            "removed": asdict(self.removed),
        }


def file_stem(gtin: str, lot: str) -> str:
    """``GTIN_LOT`` with every character a file name could misread percent-encoded."""
    return f"{gtin}_{quote(lot, safe='')}"


def _fsync_folder(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


class _Durable:
    """A file written under ``NAME.partial``, fsynced and renamed to ``NAME`` on success."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.partial = path.with_name(path.name + ".partial")

    def __enter__(self) -> Any:
        descriptor = os.open(self.partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, PRIVATE_FILE_MODE)
        os.fchmod(descriptor, PRIVATE_FILE_MODE)
        self.file = os.fdopen(descriptor, "wb")
        return self.file

    def __exit__(self, kind: object, *_: object) -> None:
        try:
            if kind is None:
                self.file.flush()
                os.fsync(self.file.fileno())
        finally:
            self.file.close()
        if kind is None:
            os.replace(self.partial, self.path)
            _fsync_folder(self.path.parent)
        else:
            self.partial.unlink(missing_ok=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as file:
        while chunk := file.read(_READ):
            digest.update(chunk)
    return digest.hexdigest()


def _epcis_events(path: Path) -> Iterator[dict[str, Any]]:
    """The document's events, decoded one at a time; raises ValueError if it is not whole."""
    decoder = json.JSONDecoder()
    with path.open(encoding="utf-8") as file:
        buffer, at, ended = file.read(_READ), 0, False
        start = buffer.find(_LIST)
        if start < 0:
            raise ValueError("no event list")
        head, at = buffer[:start], start + len(_LIST)
        while True:
            while at < len(buffer) and buffer[at] in " \t\r\n,":
                at += 1
            if at < len(buffer) and buffer[at] == "]":
                tail = buffer[at + 1 :] + file.read()
                break
            try:
                event, at = decoder.raw_decode(buffer, at)
            except json.JSONDecodeError:
                if ended:
                    raise
                more = file.read(_READ)
                ended = not more
                buffer, at = buffer[at:] + more, 0  # keep only what is not decoded yet
                continue
            yield event
    envelope = json.loads(head + _LIST + "]" + tail)
    if envelope.get("type") != "EPCISDocument":
        raise ValueError("not an EPCISDocument")


def _check_epcis(path: Path, written: int) -> set[str]:
    try:
        ids = [event.get("eventID") for event in _epcis_events(path)]
    except ValueError as exc:
        raise ArchiveRefused(f"{path} does not read back as an EPCIS document: {exc}") from None
    if len(ids) != written or len(set(ids)) != written or None in ids:
        raise ArchiveRefused(f"{path} holds {len(ids)} events, {written} were written")
    return {str(event_id) for event_id in ids}


def _check_csv(path: Path, written: int) -> tuple[set[UUID], set[str]]:
    with path.open(encoding="utf-8", newline="") as file:
        rows = csv.DictReader(file)
        if tuple(rows.fieldnames or ()) != CSV_COLUMNS:
            raise ArchiveRefused(f"{path} does not start with the export's columns")
        try:
            found = [(UUID(row["event_id"]), row["epcis_event_id"]) for row in rows]
        except (ValueError, TypeError, csv.Error) as exc:
            raise ArchiveRefused(f"{path} does not read back: {exc}") from None
    ids = {event_id for event_id, _ in found}
    if len(found) != written or len(ids) != written:
        raise ArchiveRefused(f"{path} holds {len(found)} rows, {written} were written")
    return ids, {epcis for _, epcis in found if epcis}


def _export(
    engine: Engine, retention: LotRetention, folder: Path, today: date
) -> tuple[Path, set[UUID]]:
    gtin, lot = retention.gtin, retention.lot
    stem = folder / file_stem(gtin, lot)
    epcis_path, csv_path = (
        stem.with_name(stem.name + ".epcis.json"),
        stem.with_name(stem.name + ".csv"),
    )
    created = datetime.now(UTC)
    with engine.connect() as connection:
        try:
            with _Durable(epcis_path) as out:
                in_epcis = write_epcis(connection, gtin, lot, out, created=created)
        except LotHasNoEvents:
            in_epcis = 0
        try:
            with _Durable(csv_path) as out:
                text = io.TextIOWrapper(out, encoding="utf-8", newline="")
                try:
                    in_csv = write_csv(connection, gtin, lot, text)
                finally:
                    text.flush()
                    text.detach()  # the binary file stays open for its fsync
        except LotHasNoEvents:
            in_csv = 0
    files: dict[str, dict[str, object]] = {}
    ids: set[UUID] = set()
    if in_csv:
        ids, mapped = _check_csv(csv_path, in_csv)
        if in_epcis and _check_epcis(epcis_path, in_epcis) != mapped:
            raise ArchiveRefused(f"{epcis_path} and {csv_path} name different events; run again")
        for path, count in ((epcis_path, in_epcis), (csv_path, in_csv)):
            if count:
                files[path.name] = {
                    "events": count,
                    "bytes": path.stat().st_size,
                    "sha256": _sha256(path),
                }
    manifest = stem.with_name(stem.name + ".manifest.json")
    record = {
        "gtin": gtin,
        "lot": lot,
        "retention": retention.as_json(today),
        "exported_at": created.isoformat(),
        "events": len(ids),
        "files": files,
    }
    with _Durable(manifest) as out:
        out.write(json.dumps(record, ensure_ascii=False, indent=2).encode() + b"\n")
    return manifest, ids


def archive_lot(engine: Engine, gtin: str, lot: str, folder: Path, *, today: date) -> ArchivedLot:
    """Export, verify and remove one lot that is due on ``today``; raise ArchiveRefused if not."""
    with engine.connect() as connection:
        retention = lot_retention(connection, gtin, lot)
    if retention is None:
        raise NotFound(f"nothing of lot {lot} of GTIN {gtin} is stored")
    if not retention.due(today):
        raise ArchiveRefused(
            f"lot {lot} of GTIN {gtin} must be kept until {retention.keep_until} ({retention.reason})"
        )
    if not folder.exists():
        folder.mkdir(parents=True, mode=PRIVATE_DIR_MODE)
    manifest, exported = _export(engine, retention, folder, today)
    with engine.begin() as connection:
        lock_lot(connection, gtin, lot)
        current = {row["event_id"] for rows in lot_pages(connection, gtin, lot) for row in rows}
        if not current <= exported:
            raise ArchiveRefused(
                f"{len(current - exported)} events of lot {lot} arrived after the export; "
                "nothing removed, run again"
            )
        removed = remove_lot(connection, gtin, lot, current)
        record(
            connection,
            actor=cli_actor(),
            action="lot.archive",
            target=f"lot/{gtin}/{lot}",
            details={
                "events": removed.events,
                "kept_shared": removed.kept_shared,
                "manifest": str(manifest),
            },
        )
    return ArchivedLot(gtin, lot, manifest, len(exported), removed)
