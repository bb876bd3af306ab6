"""Taking a no-read's picture out of its event: the JPEG for ``noread_images``, and the
payload to store without it.

In: an accepted event and its payload as sent. Out: the payload to store, where the
base64 ``snapshot`` is replaced by ``snapshot_sha256`` and ``snapshot_bytes`` (the event
row stays small; the record still names the picture exactly), and the picture itself,
or a reason it was refused. Only a no-read with a snapshot pays for this (one parse and
one encode of its payload); every other event keeps its text untouched.

The same replacement is a pure function of the payload, so a resent identical event is
stored-equal to the first (a duplicate, not a conflict), a resend with another picture
differs in ``snapshot_sha256`` (a conflict), and a payload stored before this existed,
with its base64 still inside, compares equal through :func:`comparable`.

A picture that is not base64 or not a JPEG (magic bytes ``FF D8 FF``) is dropped and
counted; the event is stored all the same, with ``snapshot_refused`` saying why and the
SHA-256 of the text that was sent.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.engine import Connection

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.store.document import SentDocument
from linetrace.central.store.images import insert_images

__all__ = ["JPEG_MAGIC", "Snapshot", "comparable", "split_snapshot", "store_images"]

log = logging.getLogger(__name__)

JPEG_MAGIC = b"\xff\xd8\xff"


@dataclass(frozen=True, slots=True)
class Snapshot:
    """A no-read's picture: the JPEG, or None with the reason it was refused."""

    jpeg: bytes | None
    sha256: str
    size: int
    refused: str | None = None


def _decode(text: str) -> Snapshot:
    try:
        jpeg = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return _refused(text, "not base64")
    if not jpeg.startswith(JPEG_MAGIC):
        return _refused(text, "not a JPEG")
    return Snapshot(jpeg, hashlib.sha256(jpeg).hexdigest(), len(jpeg))


def _refused(text: str, reason: str) -> Snapshot:
    raw = text.encode("utf-8", "surrogatepass")
    return Snapshot(None, hashlib.sha256(raw).hexdigest(), 0, reason)


def _stored_form(document: Mapping[str, Any], snapshot: Snapshot) -> dict[str, Any]:
    stored = {key: value for key, value in document.items() if key != "snapshot"}
    stored["snapshot_sha256"] = snapshot.sha256
    stored["snapshot_bytes"] = snapshot.size
    if snapshot.refused is not None:
        stored["snapshot_refused"] = snapshot.refused
    return stored


def split_snapshot(
    snapshot_text: str | None, document: SentDocument
) -> tuple[SentDocument, Snapshot | None]:
    """The payload to store and the picture; ``document`` itself when there is none."""
    if snapshot_text is None:
        return document, None
    snapshot = _decode(snapshot_text)
    stored = _stored_form(document.parsed(), snapshot)
    return SentDocument(json.dumps(stored, ensure_ascii=False, separators=(",", ":"))), snapshot


def comparable(document: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored payload as the ingest stores it now (its snapshot, if any, taken out)."""
    text = document.get("snapshot")
    if not isinstance(text, str):
        return document
    return _stored_form(document, _decode(text))


def store_images(
    connection: Connection, pictures: Iterable[tuple[ScanEvent, Snapshot, datetime]]
) -> tuple[int, int]:
    """Insert the good pictures of newly stored no-reads; (stored, refused) counts."""
    rows: list[dict[str, Any]] = []
    refused = 0
    for event, snapshot, received_at in pictures:
        if snapshot.jpeg is None:
            refused += 1
            log.warning(
                "no-read %s from %s: picture dropped (%s)",
                event.event_id,
                event.station_id,
                snapshot.refused,
            )
            continue
        rows.append(
            {
                "event_id": event.event_id,
                "site": event.site,
                "line": event.line,
                "station": event.station,
                "received_at": received_at,
                "jpeg": snapshot.jpeg,
                "size": snapshot.size,
                "sha256": snapshot.sha256,
            }
        )
    return insert_images(connection, rows), refused
