"""The camera alarm, and the station state it puts in the status message."""

from __future__ import annotations

import logging

import pytest

from linetrace.broker.contract.messages import live_state
from linetrace.edge.camera.alarm import CameraAlarm
from linetrace.edge.camera.settings import CaptureConfig


def test_the_alarm_is_raised_once_by_failures_and_cleared_by_a_frame(
    caplog: pytest.LogCaptureFixture,
) -> None:
    alarm = CameraAlarm("stream rtsp://cam")
    alarm.delivered()
    states = [alarm.raised]
    with caplog.at_level(logging.INFO):
        alarm.failed("stream rtsp://cam stopped delivering frames")
        alarm.failed("cannot open stream rtsp://cam")
        states.append(alarm.raised)
        reason = alarm.reason
        alarm.delivered()
        alarm.delivered()
    states.append(alarm.raised)
    assert states == [False, True, False]
    assert reason == "cannot open stream rtsp://cam"
    assert alarm.reason == ""
    raised = [r for r in caplog.records if "CAMERA ALARM" in r.getMessage()]
    cleared = [r for r in caplog.records if "delivers frames again" in r.getMessage()]
    assert len(raised) == 1
    assert raised[0].levelno == logging.ERROR
    assert len(cleared) == 1


def test_a_raised_alarm_makes_the_station_degraded() -> None:
    assert live_state({"frames": 10.0, "camera_alarm": 0.0, "outbox_alarm": 0.0}) == "online"
    assert live_state({"camera_alarm": 1.0}) == "degraded"
    assert live_state({"outbox_alarm": 1.0, "camera_alarm": 0.0}) == "degraded"
    assert live_state({}) == "online"


def test_the_stall_limit_outlasts_opening_a_stream() -> None:
    assert CaptureConfig(read_timeout_s=1.0, stall_s=2.5).read_timeout_s == 1.0
    with pytest.raises(ValueError, match="twice read_timeout_s"):
        CaptureConfig(read_timeout_s=5.0, stall_s=10.0)
