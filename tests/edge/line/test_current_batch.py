"""The current batch as central announces it: set, replaced, cleared, refused when unreadable."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from linetrace.broker.contract.messages import BatchAnnouncement
from linetrace.edge.line.current_batch import CurrentBatch

BATCH = BatchAnnouncement(
    batch_id="B-1",
    gtin="08938500000018",
    lot="L1",
    started_at=datetime(2026, 3, 1, tzinfo=UTC),
)


def test_a_batch_is_set_replaced_and_cleared() -> None:
    current = CurrentBatch()
    assert (current.announcement, current.heard) == (None, False)
    assert current.apply(BATCH.to_payload()) == BATCH
    assert current.heard
    second = BATCH.model_copy(update={"batch_id": "B-2", "lot": "L2"})
    current.apply(second.to_payload())
    assert current.announcement == second
    assert current.apply(b"") is None  # central closed the batch
    assert current.announcement is None


def test_an_unreadable_announcement_clears_the_batch_and_says_why(
    caplog: pytest.LogCaptureFixture,
) -> None:
    current = CurrentBatch()
    current.apply(BATCH.to_payload())
    assert current.apply(b'{"batch_id": "B-3", "gtin": "123"}') is None
    assert current.announcement is None
    assert current.invalid == 1
    [record] = [r for r in caplog.records if r.levelname == "ERROR"]
    assert "gtin" in record.getMessage()
    assert "started_at" in record.getMessage()
    assert current.apply(b"\xff not json") is None
    assert current.invalid == 2
