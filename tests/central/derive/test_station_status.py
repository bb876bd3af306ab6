"""The stations' own alarms at central, from their status messages: degraded per raised
figure, offline from the last will, events lost from a ``lost`` figure that went up."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.contract.topics import StationId
from linetrace.central.derive.alarms import Alarm, acknowledge_alarm, list_alarms
from linetrace.central.derive.station_status import (
    EVENTS_LOST,
    STATION_DEGRADED,
    STATION_OFFLINE,
    StatusOutcome,
    apply_status,
    last_statuses,
)
from tests.central.helpers import HCM, STATION

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
RECEIVED = datetime(2025, 3, 1, 1, 0, 1, tzinfo=UTC)
HEALTHY = {"frames": 100.0, "stored": 10.0, "lost": 0.0, "camera_alarm": 0.0, "outbox_alarm": 0.0}


def status(
    state: Literal["online", "degraded", "offline"],
    seconds: float,
    **figures: float,
) -> StationStatus:
    return StationStatus(state=state, at=T0 + timedelta(seconds=seconds), metrics=figures)


def apply(engine: Engine, sent: StationStatus, station: str = STATION) -> StatusOutcome:
    with engine.begin() as connection:
        return apply_status(connection, StationId.parse(station), sent, RECEIVED)


def alarms(engine: Engine, kind: str, *, open_only: bool = True) -> list[Alarm]:
    with engine.connect() as connection:
        return list_alarms(connection, kind=kind, open_only=open_only)


def test_each_raised_figure_is_an_alarm_until_the_station_reports_online(engine: Engine) -> None:
    apply(engine, status("online", 0, **HEALTHY))
    assert alarms(engine, STATION_DEGRADED) == []
    both = {**HEALTHY, "camera_alarm": 1.0, "camera_failures": 3.0, "outbox_alarm": 1.0}
    apply(engine, status("degraded", 5, **both, outbox_fill=0.85))
    apply(engine, status("degraded", 10, **both, outbox_fill=0.9))  # still: no second alarm
    raised = {alarm.key: alarm for alarm in alarms(engine, STATION_DEGRADED)}
    assert set(raised) == {"camera", "outbox"}
    assert raised["camera"].station == STATION
    assert raised["camera"].details == {"alarm": "camera", "figure": 1.0, "camera_failures": 3.0}
    assert raised["outbox"].details == {"alarm": "outbox", "figure": 1.0, "outbox_fill": 0.85}
    assert "camera alarm" in raised["camera"].message

    apply(engine, status("degraded", 15, **{**both, "camera_alarm": 0.0}))  # frames flow again
    assert [alarm.key for alarm in alarms(engine, STATION_DEGRADED)] == ["outbox"]
    apply(engine, status("online", 20, **HEALTHY))
    assert alarms(engine, STATION_DEGRADED) == []
    assert len(alarms(engine, STATION_DEGRADED, open_only=False)) == 2  # the history stays


def test_degraded_without_a_named_figure_still_raises_one_alarm(engine: Engine) -> None:
    apply(engine, status("degraded", 0, frames=1.0))
    assert [alarm.key for alarm in alarms(engine, STATION_DEGRADED)] == ["degraded"]


def test_the_last_will_raises_offline_once_and_keeps_the_last_figures(engine: Engine) -> None:
    apply(engine, status("online", 5, **HEALTHY))
    will = status("offline", 0)  # the will carries the time it was set: before the above
    assert apply(engine, will).applied
    assert not apply(engine, will).applied  # the retained copy again: nothing new
    (offline,) = alarms(engine, STATION_OFFLINE)
    assert "last will" in offline.message
    with engine.connect() as connection:
        stored = last_statuses(connection)[StationId.parse(STATION)]
    assert (stored.state, stored.at, stored.metrics) == (
        "offline",
        T0 + timedelta(seconds=5),
        HEALTHY,
    )
    apply(engine, status("online", 10, **HEALTHY))
    assert alarms(engine, STATION_OFFLINE) == []


def test_a_late_copy_changes_nothing(engine: Engine) -> None:
    apply(engine, status("online", 10, **HEALTHY))
    late = apply(engine, status("degraded", 5, **{**HEALTHY, "camera_alarm": 1.0, "lost": 4.0}))
    assert late == StatusOutcome(applied=False)
    assert alarms(engine, STATION_DEGRADED) == alarms(engine, EVENTS_LOST) == []


def test_lost_events_raise_one_critical_alarm_that_grows_until_acknowledged(
    engine: Engine,
) -> None:
    apply(engine, status("online", 0, **HEALTHY))
    assert apply(engine, status("degraded", 5, **{**HEALTHY, "lost": 3.0})).lost == 3
    assert apply(engine, status("degraded", 5, **{**HEALTHY, "lost": 3.0})).lost == 0  # repeat
    assert apply(engine, status("degraded", 10, **{**HEALTHY, "lost": 5.0})).lost == 2
    (alarm,) = alarms(engine, EVENTS_LOST)
    assert (alarm.severity, alarm.key, alarm.details and alarm.details["lost"]) == (
        "critical",
        "outbox",
        5,
    )
    assert "5 events lost" in alarm.message

    apply(engine, status("online", 15, **{**HEALTHY, "lost": 5.0}))  # no new loss: stays open
    assert [a.id for a in alarms(engine, EVENTS_LOST)] == [alarm.id]
    with engine.begin() as connection:
        acknowledge_alarm(connection, alarm.id, "operator")
    assert [a.id for a in alarms(engine, EVENTS_LOST)] == [alarm.id]  # seen, still open

    apply(engine, status("degraded", 20, **{**HEALTHY, "lost": 6.0}))
    (newer,) = alarms(engine, EVENTS_LOST)
    assert newer.id != alarm.id
    assert newer.details
    assert newer.details["lost"] == 1
    assert newer.acknowledged_at is None


def test_lost_counts_from_zero_after_the_agent_restarts(engine: Engine) -> None:
    apply(engine, status("online", 0, **{**HEALTHY, "lost": 7.0, "stored": 500.0}))
    (first,) = alarms(engine, EVENTS_LOST)
    apply(engine, status("offline", 0))  # the will: no figures, the last ones stay
    restarted = {**HEALTHY, "lost": 2.0, "stored": 3.0}  # a new run: counters from zero
    assert apply(engine, status("degraded", 60, **restarted)).lost == 2
    (alarm,) = alarms(engine, EVENTS_LOST)
    assert alarm.id == first.id
    assert alarm.details
    assert alarm.details["lost"] == 9


@pytest.mark.parametrize("first_lost", [0.0, 4.0])
def test_the_first_status_seen_counts_all_it_lost(engine: Engine, first_lost: float) -> None:
    outcome = apply(engine, status("online", 0, **{**HEALTHY, "lost": first_lost}))
    assert outcome == StatusOutcome(applied=True, lost=int(first_lost))
    assert len(alarms(engine, EVENTS_LOST)) == (1 if first_lost else 0)


def test_stations_are_kept_apart(engine: Engine) -> None:
    other = "hcm1/L2/pack-9"
    apply(engine, status("degraded", 0, camera_alarm=1.0), station=other)
    apply(engine, status("online", 5, **HEALTHY))
    assert [(a.station, a.key) for a in alarms(engine, STATION_DEGRADED)] == [(other, "camera")]
