"""The thresholds: built-in defaults, the site-wide row, station overrides, validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from sqlalchemy.engine import Engine

from linetrace.central.derive.alarm_rules import (
    ThresholdOverrides,
    Thresholds,
    load_rules,
    save_rules,
)
from tests.central.helpers import STATION


def test_nothing_stored_means_the_vendor_like_defaults(engine: Engine) -> None:
    with engine.connect() as connection:
        book = load_rules(connection)
    rule = book.for_station(STATION)
    assert rule == Thresholds()
    assert (rule.read_rate_min_pct, rule.noread_max_pct, rule.window_s, rule.min_events) == (
        90.0,
        10.0,
        300,
        20,
    )


def test_a_station_inherits_the_default_row_and_overrides_or_turns_off(engine: Engine) -> None:
    with engine.begin() as connection:
        save_rules(
            connection,
            defaults=ThresholdOverrides(read_rate_min_pct=95, window_s=600),
            stations={
                STATION: ThresholdOverrides(noread_max_pct=3, offline_after_s=None),
                "hcm1/L1/other": ThresholdOverrides(),  # nothing of its own: not stored
            },
            by="anh",
        )
    with engine.connect() as connection:
        book = load_rules(connection)
    own = book.for_station(STATION)
    other = book.for_station("hcm1/L2/x")
    assert (own.read_rate_min_pct, own.window_s, own.noread_max_pct, own.offline_after_s) == (
        95,
        600,
        3,
        None,
    )
    assert (other.read_rate_min_pct, other.noread_max_pct, other.offline_after_s) == (95, 10, 120)
    assert set(book.stations) == {STATION}
    assert book.updated_by == "anh"


@pytest.mark.parametrize(
    "given",
    [
        {"read_rate_min_pct": 101},
        {"noread_max_pct": -1},
        {"window_s": 5},
        {"window_s": None},
        {"min_events": None},
        {"hysteresis_pct": 50},
        {"offline_after_s": 1},
        {"loud": True},
    ],
)
def test_bad_thresholds_are_refused(given: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ThresholdOverrides.model_validate(given)
