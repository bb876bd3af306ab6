"""Migration 0011 moves the pictures of no-reads stored before it out of their payloads.

A central at 0010 kept each no-read's base64 ``snapshot`` inside ``events.payload``.
After the upgrade the picture must sit in ``noread_images`` and the payload read exactly
as the ingest stores one today, so that an edge resending the old event (its spool
replayed after the upgrade) is told "duplicate", not "conflict". More no-reads than one
backfill batch are written, so the walk across batches is covered too.
"""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.broker.contract.messages import ScanEvent
from linetrace.central.ingest.snapshots import split_snapshot
from linetrace.central.store import events, head_revision, noread_images, open_engine, upgrade
from linetrace.central.store.document import SentDocument
from tests.central.helpers import STATION, make_event
from tests.central.images.helpers import jpeg, noread
from tests.central.store.conftest import BlankDatabase
from tests.central.store.test_upgrades import _event_row, _insert
from tests.central.trace_helpers import store

PICTURE = jpeg()
MANY = 450  # more than two of the backfill's batches of 200
GOOD = [noread(n, jpeg(shade=n % 250)) for n in range(1, MANY + 1)]
NOT_JPEG = noread(MANY + 1, b"\x89PNG\r\n\x1a\n" + bytes(40))
NOT_BASE64 = make_event(MANY + 2, kind="noread", snapshot="not base64 at all!")
BARE = make_event(MANY + 3, kind="noread")  # a no-read without a picture: left alone
READ = make_event(MANY + 4)
OLD = [*GOOD, NOT_JPEG, NOT_BASE64, BARE, READ]


def _write_old(connection: Connection) -> None:
    """Rows as a central at 0010 stored them: the snapshot still inside the payload."""
    for event in OLD:
        _insert(connection, "events", _event_row(event))


def _expected(event: ScanEvent) -> dict[str, Any]:
    """The payload the ingest stores today for ``event``."""
    sent = json.loads(event.to_payload())
    document, _ = split_snapshot(sent.get("snapshot"), SentDocument(event.to_payload().decode()))
    parsed: dict[str, Any] = document.parsed()
    return parsed


@pytest.mark.parametrize(
    "backend", ["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)]
)
def test_old_no_read_pictures_are_moved_and_a_resend_stays_a_duplicate(
    blank_database: BlankDatabase, backend: str
) -> None:
    url = blank_database(backend)
    assert upgrade(url, "0010") == "0010"
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            _write_old(connection)
        assert upgrade(url) == head_revision()
        with engine.connect() as connection:
            stored = dict(connection.execute(sa.select(events.c.event_id, events.c.payload)).all())
            pictures = {row.event_id: row for row in connection.execute(sa.select(noread_images))}
        assert set(pictures) == {event.event_id for event in GOOD}
        for event in GOOD:
            picture = base64.b64decode(event.model_dump()["snapshot"])
            row = pictures[event.event_id]
            assert (row.jpeg, row.size) == (picture, len(picture))
            assert row.sha256 == hashlib.sha256(picture).hexdigest()
            assert (row.site, row.line, row.station) == tuple(STATION.split("/"))
        for event in OLD:
            assert stored[event.event_id] == _expected(event), event.seq
        assert "snapshot" not in stored[GOOD[0].event_id]
        assert stored[NOT_JPEG.event_id]["snapshot_refused"] == "not a JPEG"
        assert stored[NOT_BASE64.event_id]["snapshot_refused"] == "not base64"
        assert stored[BARE.event_id] == json.loads(BARE.to_payload())
        resent = store(engine, GOOD[0], NOT_JPEG, READ)
        assert (resent.stored, resent.duplicates, resent.conflicts) == (0, 3, 0)
    finally:
        engine.dispose()
