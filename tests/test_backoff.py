"""linetrace.backoff: doubling up to a ceiling, jitter within its bounds, reset."""

from __future__ import annotations

import random

import pytest

from linetrace.backoff import Backoff


def test_delays_double_up_to_the_ceiling() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=30.0)
    assert [backoff.next_delay() for _ in range(7)] == [1, 2, 4, 8, 16, 30, 30]
    assert backoff.attempts == 7


def test_factor_sets_the_growth() -> None:
    backoff = Backoff(initial_s=0.5, maximum_s=100.0, factor=3.0)
    assert [backoff.next_delay() for _ in range(4)] == [0.5, 1.5, 4.5, 13.5]


def test_a_factor_of_one_is_a_constant_pause() -> None:
    backoff = Backoff(initial_s=2.0, maximum_s=2.0, factor=1.0)
    assert {backoff.next_delay() for _ in range(5)} == {2.0}


def test_reset_starts_again_from_the_first_delay() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=60.0)
    for _ in range(4):
        backoff.next_delay()
    backoff.reset()
    assert backoff.attempts == 0
    assert backoff.next_delay() == 1.0


def test_many_failures_stay_at_the_ceiling_without_overflow() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=30.0)
    for _ in range(2000):
        delay = backoff.next_delay()
    assert delay == 30.0


def test_jitter_stays_within_its_share_of_the_delay() -> None:
    backoff = Backoff(initial_s=10.0, maximum_s=10.0, jitter=0.2, _random=random.Random(1))
    delays = [backoff.next_delay() for _ in range(500)]
    assert all(8.0 <= delay <= 12.0 for delay in delays)
    assert max(delays) - min(delays) > 2.0  # spread, not one value


def test_jitter_spreads_the_ceiling_too() -> None:
    backoff = Backoff(initial_s=1.0, maximum_s=4.0, jitter=0.5, _random=random.Random(2))
    delays = [backoff.next_delay() for _ in range(200)][3:]  # at the ceiling from the 3rd
    assert all(2.0 <= delay <= 6.0 for delay in delays)


@pytest.mark.parametrize(
    ("initial_s", "maximum_s", "factor", "jitter", "message"),
    [
        (0.0, 1.0, 2.0, 0.0, "0 < initial_s <= maximum_s"),
        (-1.0, 1.0, 2.0, 0.0, "0 < initial_s <= maximum_s"),
        (2.0, 1.0, 2.0, 0.0, "0 < initial_s <= maximum_s"),
        (1.0, 2.0, 0.5, 0.0, "factor >= 1"),
        (1.0, 2.0, 2.0, -0.1, "0 <= jitter <= 1"),
        (1.0, 2.0, 2.0, 1.5, "0 <= jitter <= 1"),
    ],
)
def test_bad_arguments_are_refused(
    initial_s: float, maximum_s: float, factor: float, jitter: float, message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        Backoff(initial_s, maximum_s, factor=factor, jitter=jitter)
