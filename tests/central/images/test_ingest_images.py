"""The ingest stores each no-read's picture apart from its event, in the same transaction."""

from __future__ import annotations

import base64
import hashlib
from datetime import UTC, datetime

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import conflicts, event_row, events, insert_events, noread_images
from linetrace.central.store.document import SentDocument
from tests.central.helpers import STATION, events_topic, make_event, register
from tests.central.images.helpers import jpeg, noread

NOW = datetime(2025, 3, 1, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION)
    return engine


def inbound(payload: bytes) -> Inbound:
    return Inbound(events_topic(), payload, NOW)


def stored_payload(engine: Engine, event_id: object) -> dict[str, object]:
    with engine.connect() as connection:
        payload: dict[str, object] = connection.execute(
            sa.select(events.c.payload).where(events.c.event_id == event_id)
        ).scalar_one()
    return payload


def images(engine: Engine) -> list[sa.Row[tuple[object, ...]]]:
    with engine.connect() as connection:
        return list(connection.execute(sa.select(noread_images)).all())


def test_the_picture_is_stored_apart_and_the_event_keeps_its_hash(engine: Engine) -> None:
    picture = jpeg()
    event = noread(1, picture)
    result = write_batch(engine, [inbound(event.to_payload())])
    assert (result.stored, result.images_stored, result.images_refused) == (1, 1, 0)
    payload = stored_payload(engine, event.event_id)
    assert "snapshot" not in payload
    assert payload["snapshot_sha256"] == hashlib.sha256(picture).hexdigest()
    assert payload["snapshot_bytes"] == len(picture)
    [row] = images(engine)
    assert (row.event_id, row.jpeg, row.size) == (event.event_id, picture, len(picture))
    assert (row.site, row.line, row.station) == tuple(STATION.split("/"))
    assert row.sha256 == hashlib.sha256(picture).hexdigest()


def test_a_resent_no_read_is_a_duplicate_and_another_picture_a_conflict(engine: Engine) -> None:
    event = noread(1)
    write_batch(engine, [inbound(event.to_payload())])
    again = write_batch(engine, [inbound(event.to_payload())])
    assert (again.stored, again.duplicates, again.conflicts) == (0, 1, 0)
    changed = event.model_copy(
        update={"snapshot": base64.b64encode(jpeg(shade=200)).decode("ascii")}
    )
    other = write_batch(engine, [inbound(changed.to_payload())])
    assert (other.duplicates, other.conflicts) == (1, 1)
    assert len(images(engine)) == 1  # the first picture stays


def test_a_picture_that_is_not_a_jpeg_is_dropped_and_the_event_stored(engine: Engine) -> None:
    png_like = b"\x89PNG\r\n\x1a\n" + bytes(100)
    event = noread(1, png_like)
    result = write_batch(engine, [inbound(event.to_payload())])
    assert (result.stored, result.images_stored, result.images_refused) == (1, 0, 1)
    assert images(engine) == []
    payload = stored_payload(engine, event.event_id)
    assert payload["snapshot_refused"] == "not a JPEG"
    assert "snapshot" not in payload
    assert write_batch(engine, [inbound(event.to_payload())]).conflicts == 0


def test_a_read_is_stored_as_sent(engine: Engine) -> None:
    event = make_event(1)
    write_batch(engine, [inbound(event.to_payload())])
    assert stored_payload(engine, event.event_id) == event.model_dump(mode="json")
    assert images(engine) == []


def test_a_resend_of_an_event_stored_with_its_picture_inside_is_no_conflict(
    engine: Engine,
) -> None:
    """Stored before pictures moved out: the base64 is still in its payload."""
    event = noread(1)
    with engine.begin() as connection:
        document = SentDocument(event.to_payload().decode())
        insert_events(connection, [event_row(event, document, NOW)])
    result = write_batch(engine, [inbound(event.to_payload())])
    assert (result.duplicates, result.conflicts) == (1, 0)
    with engine.connect() as connection:
        assert connection.execute(sa.select(sa.func.count()).select_from(conflicts)).scalar() == 0
