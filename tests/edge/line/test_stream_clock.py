"""The stream clock: a source's pauses found in the frames' own times, and left out."""

from __future__ import annotations

import pytest

from linetrace.edge.line.stream_clock import BRIDGE_S, MIN_PAUSE_S, StreamClock

STEP = 1 / 30


def fed(clock: StreamClock, frames: list[tuple[int, float]]) -> list[float]:
    """Each frame's pauses so far."""
    return [clock.advance(index, mono) for index, mono in frames]


def test_an_even_stream_has_no_pause_whatever_its_rate() -> None:
    for step in (1 / 60, STEP, 0.2):
        clock = StreamClock()
        assert fed(clock, [(i, 5.0 + i * step) for i in range(40)]) == [0.0] * 40
        assert clock.usual_step == pytest.approx(step)


def test_a_late_frame_counts_as_one_usual_step_later() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(10)])
    # Frame 10 comes 0.7 s late: the source held it back (a camera settling).
    assert clock.advance(10, 9 * STEP + 0.7) == pytest.approx(0.7 - STEP)
    # Then frames come at their pace again, and the pause stays taken out.
    assert clock.advance(11, 9 * STEP + 0.7 + STEP) == pytest.approx(0.7 - STEP)


def test_a_pause_before_the_stream_showed_its_pace_counts_as_nothing() -> None:
    clock = StreamClock()
    clock.advance(0, 100.0)
    assert clock.advance(1, 100.7) == pytest.approx(0.7)


def test_frames_dropped_by_the_capture_are_time_that_passed_not_a_pause() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(10)])
    assert clock.advance(31, 31 * STEP) == 0.0  # 21 frames dropped: their index is gone


def test_jitter_and_a_reader_a_little_late_are_no_pause() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(10)])
    assert clock.advance(10, 10 * STEP + MIN_PAUSE_S * 0.9) == 0.0


def test_a_silence_longer_than_the_bridge_is_an_outage_and_counts_in_full() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(10)])
    assert clock.advance(10, 9 * STEP + BRIDGE_S + 1.0) == 0.0


def test_a_stream_that_slows_down_for_good_is_followed() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(15)])
    slow = [(15 + i, 14 * STEP + (i + 1) * 0.5) for i in range(20)]
    paused = fed(clock, slow)
    assert paused[-1] == paused[-2]  # after a few steps, 2 fps is the usual pace
    assert clock.usual_step == pytest.approx(0.5)


def test_peek_looks_ahead_without_taking_the_frame() -> None:
    clock = StreamClock()
    fed(clock, [(i, i * STEP) for i in range(10)])
    assert clock.peek(13, 13 * STEP) == 0.0  # three frames on, read ahead of the rest
    assert clock.peek(10, 9 * STEP + 0.7) == pytest.approx(0.7 - STEP)
    assert clock.paused == 0.0


def test_media_time_has_no_pauses() -> None:
    """A folder of photos scanned fast is one second a photo, and a gap in a file's
    times is the file's: neither is a stalled stream to bridge."""
    clock = StreamClock(live=False)
    frames = [(0, 0.0), (1, 1.0), (2, 2.0), (3, 2.0 + STEP), (4, 3.0)]
    assert fed(clock, frames) == [0.0] * len(frames)
    assert StreamClock().advance(0, 0.0) == 0.0  # live is the default
