"""Each threshold alarm raised and cleared by the one alarm sweep, on events and statuses
stored the way the ingest stores them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.contract.topics import StationId
from linetrace.central.config import IngestSettings
from linetrace.central.derive.alarm_rules import ThresholdOverrides, save_rules
from linetrace.central.derive.alarm_sweeps import sweep_alarms
from linetrace.central.derive.alarms import Alarm, list_alarms
from linetrace.central.derive.station_status import apply_status
from linetrace.central.store.relay_tables import relay_queue, relay_target_health
from linetrace.central.store.tables import events
from tests.central.helpers import HCM, STATION, make_event
from tests.central.trace_helpers import store

NOW = datetime.now(UTC)


class Line:
    """A station's stream of passages, stored in batches like the ingest stores them."""

    def __init__(self, engine: Engine, station: str = STATION) -> None:
        self.engine, self.station, self.seq = engine, station, 0

    def passes(self, reads: int, noreads: int, at: datetime) -> None:
        scans = []
        for kind in ["read"] * reads + ["noread"] * noreads:
            self.seq += 1
            when = (at - timedelta(milliseconds=self.seq)).astimezone(HCM)
            scans.append(make_event(self.seq, station=self.station, observed_at=when, kind=kind))
        store(self.engine, *scans)


def sweep(engine: Engine, now: datetime) -> dict[tuple[str | None, str, str], Alarm]:
    """Run the alarm sweep at ``now``; the open alarms by (station, kind, key)."""
    with engine.begin() as connection:
        sweep_alarms(connection, now, IngestSettings())
        return {(a.station, a.kind, a.key): a for a in list_alarms(connection, limit=1000)}


def kinds(alarms: dict[tuple[str | None, str, str], Alarm]) -> set[str]:
    return {kind for _station, kind, _key in alarms}


def test_read_rate_and_noreads_raise_once_and_clear_with_hysteresis(engine: Engine) -> None:
    line = Line(engine)
    line.passes(10, 2, NOW)  # 12 passages: fewer than min_events (20), not judged
    assert kinds(sweep(engine, NOW)) == set()
    line.passes(7, 1, NOW)  # 17 good of 20: 85 %, 15 % no-reads
    opened = sweep(engine, NOW)
    rate = opened[(STATION, "read_rate", "window")]
    noreads = opened[(STATION, "noreads", "window")]
    assert rate.details is not None
    assert noreads.details is not None
    assert (rate.details["rate_pct"], noreads.details["rate_pct"]) == (85.0, 15.0)
    assert "below 90 %" in rate.message
    again = sweep(engine, NOW)  # no duplicate while open
    assert again[(STATION, "read_rate", "window")].id == rate.id
    line.passes(11, 0, NOW)  # 28 of 31: 90.3 % - above 90, below 90 + 2: stays open
    hovering = sweep(engine, NOW)
    assert hovering[(STATION, "read_rate", "window")].id == rate.id
    assert hovering[(STATION, "noreads", "window")].details["rate_pct"] == 9.7  # type: ignore[index]
    line.passes(9, 0, NOW)  # 37 of 40: 92.5 %, 7.5 % no-reads: both clear
    assert kinds(sweep(engine, NOW)) == set()
    with engine.connect() as connection:
        history = list_alarms(connection, open_only=False)
    assert sorted(a.kind for a in history) == ["noreads", "read_rate"]
    assert all(a.cleared_at is not None for a in history)


def test_a_station_override_and_the_window_decide(engine: Engine) -> None:
    line = Line(engine)
    line.passes(19, 1, NOW - timedelta(minutes=10))  # 95 %, but outside a 5 min window
    line.passes(19, 1, NOW)
    assert kinds(sweep(engine, NOW)) == set()
    with engine.begin() as connection:
        save_rules(
            connection,
            defaults=ThresholdOverrides(),
            stations={STATION: ThresholdOverrides(read_rate_min_pct=97, noread_max_pct=None)},
            by="test",
        )
    assert kinds(sweep(engine, NOW)) == {"read_rate"}
    # An hour later nothing was read: the line stopped, no rate left to judge (the
    # silence is the offline rule's).
    assert kinds(sweep(engine, NOW + timedelta(hours=1))) == {"station_offline"}


def status(state: str, at: datetime) -> StationStatus:
    metrics = {} if state == "offline" else {"frames": 100.0, "stored": 10.0, "lost": 0.0}
    return StationStatus.model_validate({"state": state, "at": at, "metrics": metrics})


def test_a_silent_station_is_offline_until_heard_again(engine: Engine) -> None:
    station = StationId.parse(STATION)
    Line(engine).passes(1, 0, NOW)  # registers the station
    heard = datetime.now(UTC)  # after the event's commit
    with engine.begin() as connection:
        apply_status(connection, station, status("online", heard), heard)
    assert kinds(sweep(engine, heard + timedelta(seconds=60))) == set()
    later = heard + timedelta(seconds=121)
    silent = sweep(engine, later)[(STATION, "station_offline", "silent")]
    assert silent.severity == "critical"
    with engine.begin() as connection:
        apply_status(connection, station, status("online", later), later)
    assert kinds(sweep(engine, later + timedelta(seconds=1))) == set()


def test_a_last_will_and_silence_are_both_station_offline(engine: Engine) -> None:
    station = StationId.parse(STATION)
    Line(engine).passes(1, 0, NOW)
    with engine.begin() as connection:
        apply_status(connection, station, status("offline", NOW), NOW)
    assert set(sweep(engine, NOW)) == {(STATION, "station_offline", "status")}
    with engine.begin() as connection:
        save_rules(
            connection,
            defaults=ThresholdOverrides(offline_after_s=None),
            stations={},
            by="test",
        )
    assert set(sweep(engine, NOW + timedelta(hours=1))) == {(STATION, "station_offline", "status")}


def test_a_relay_target_is_stuck_on_an_old_event_or_an_open_breaker(engine: Engine) -> None:
    Line(engine).passes(1, 0, NOW)
    with engine.begin() as connection:
        event_id = connection.execute(sa.select(events.c.event_id)).scalar_one()
        connection.execute(
            relay_queue.insert().values(
                target="portal",
                event_id=event_id,
                action="capture",
                state="queued",
                attempts=3,
                next_attempt_at=NOW,
                queued_at=NOW - timedelta(minutes=20),
            )
        )
    stuck = sweep(engine, NOW)[(None, "relay_stuck", "portal")]
    assert "portal" in stuck.message
    with engine.begin() as connection:
        connection.execute(relay_queue.update().values(state="accepted", done_at=NOW))
    assert kinds(sweep(engine, NOW)) == set()
    with engine.begin() as connection:
        connection.execute(
            relay_target_health.insert().values(
                target="portal",
                breaker="open",
                consecutive_failures=5,
                last_error="503 from the portal",
                details={},
                updated_at=NOW,
            )
        )
    assert "breaker is open" in sweep(engine, NOW)[(None, "relay_stuck", "portal")].message
    with engine.begin() as connection:
        connection.execute(relay_target_health.update().values(breaker="closed"))
    assert kinds(sweep(engine, NOW)) == set()
