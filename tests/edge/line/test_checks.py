"""Batch checks: GTIN, lot and expiry against the announced batch, as pure functions."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from linetrace.broker.contract.messages import BatchAnnouncement
from linetrace.edge.line.checks import (
    CHECK_BATCH_GTIN,
    CHECK_BATCH_LOT,
    CHECK_EXPIRY,
    batch_checks,
    check_expiry,
    failed,
)

BATCH = BatchAnnouncement(
    batch_id="B-2611",
    gtin="08938500000018",
    lot="L2611",
    expiry=date(2027, 3, 31),
    started_at=datetime(2026, 3, 1, 1, 0, tzinfo=UTC),
)
SEEN = date(2026, 3, 1)


def test_a_read_of_the_batch_passes_every_check() -> None:
    gs1 = {"01": "08938500000018", "10": "L2611", "17": "270331", "21": "000123"}
    results = batch_checks(gs1, BATCH, SEEN)
    assert set(results) == {CHECK_BATCH_GTIN, CHECK_BATCH_LOT, CHECK_EXPIRY}
    assert all(result.passed for result in results.values())
    assert failed(results) == []


def test_a_wrong_product_and_lot_are_named_with_both_values() -> None:
    gs1 = {"01": "08938500000025", "10": "L2610"}
    results = batch_checks(gs1, BATCH, SEEN)
    assert not results[CHECK_BATCH_GTIN].passed
    assert results[CHECK_BATCH_GTIN].detail == (
        "GTIN (01) 08938500000025 is not batch B-2611's GTIN 08938500000018"
    )
    assert not results[CHECK_BATCH_LOT].passed
    assert results[CHECK_BATCH_LOT].detail == "lot (10) L2610 is not batch B-2611's lot L2611"
    assert CHECK_EXPIRY not in results  # the code carries no expiry date
    assert len(failed(results)) == 2


def test_a_logistic_label_is_checked_by_its_content_gtin() -> None:
    label = {"00": "389385000000000017", "02": "08938500000018", "10": "L2611"}
    assert all(r.passed for r in batch_checks(label, BATCH, SEEN).values())
    bare_sscc = {"00": "389385000000000017"}
    assert batch_checks(bare_sscc, BATCH, SEEN) == {}  # names no product: nothing to check


def test_a_code_without_a_lot_is_checked_for_its_product_only() -> None:
    ean13 = {"01": "08938500000018"}
    assert set(batch_checks(ean13, BATCH, SEEN)) == {CHECK_BATCH_GTIN}


@pytest.mark.parametrize(
    ("expiry", "seen", "passed"),
    [
        ("260301", date(2026, 3, 1), True),  # its last day is still in date
        ("260228", date(2026, 3, 1), False),
        ("260200", date(2026, 2, 28), True),  # day 00 is the last day of the month
        ("260200", date(2026, 3, 1), False),
        ("991231", date(2026, 3, 1), False),  # GS1 century rule: 1999, long expired
    ],
)
def test_expiry_is_judged_on_the_day_the_item_was_seen(
    expiry: str, seen: date, passed: bool
) -> None:
    result = check_expiry({"17": expiry}, seen)
    assert result is not None
    assert result.passed is passed
    if not passed:
        assert result.detail is not None
        assert result.detail.startswith("expired on ")


def test_expiry_is_checked_even_without_a_batch() -> None:
    results = batch_checks({"01": "08938500000018", "17": "250101"}, None, SEEN)
    assert list(results) == [CHECK_EXPIRY]
    assert results[CHECK_EXPIRY].detail == "expired on 2025-01-01, seen on 2026-03-01"


def test_an_unreadable_expiry_fails_with_the_reason() -> None:
    result = check_expiry({"17": "26139x"}, SEEN)
    assert result is not None
    assert not result.passed
    assert result.detail is not None
    assert "is not a date" in result.detail


def test_a_code_that_is_not_gs1_gets_no_checks() -> None:
    assert batch_checks(None, BATCH, SEEN) == {}
