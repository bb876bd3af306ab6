"""Alarms: raised once while open, cleared, raised anew, acknowledged; and their API."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.derive.alarms import (
    acknowledge_alarm,
    clear_alarm,
    find_open_alarm,
    list_alarms,
    open_alarms,
    raise_alarm,
    update_alarm,
)
from tests.central.auth_helpers import login_headers
from tests.central.helpers import STATION, central_settings


def test_raising_an_open_alarm_again_returns_it(engine: Engine) -> None:
    with engine.begin() as connection:
        first = raise_alarm(
            connection, station=STATION, kind="seq_gap", key="7", message="seq 7 missing"
        )
        again = raise_alarm(
            connection, station=STATION, kind="seq_gap", key="7", message="still missing"
        )
        other = raise_alarm(connection, station=None, kind="seq_gap", key="7", message="site")
        assert first == again != other
        (alarm,) = list_alarms(connection, station=STATION)
    assert (alarm.message, alarm.severity, alarm.open) == ("seq 7 missing", "warning", True)


def test_a_cleared_alarm_stays_in_history_and_can_be_raised_anew(engine: Engine) -> None:
    with engine.begin() as connection:
        first = raise_alarm(connection, station=STATION, kind="k", key="x", message="m")
        assert clear_alarm(connection, station=STATION, kind="k", key="x") is True
        assert clear_alarm(connection, station=STATION, kind="k", key="x") is False
        second = raise_alarm(
            connection,
            station=STATION,
            kind="k",
            key="x",
            message="again",
            severity="critical",
            details={"n": 1},
        )
        assert second != first
        assert [a.id for a in list_alarms(connection)] == [second]
        history = list_alarms(connection, open_only=False)
    assert [(a.id, a.open) for a in history] == [(second, True), (first, False)]
    assert history[0].details == {"n": 1}


def test_a_bad_severity_is_refused(engine: Engine) -> None:
    with engine.begin() as connection, pytest.raises(ValueError, match="severity"):
        raise_alarm(connection, station=None, kind="k", key="x", message="m", severity="loud")


def test_acknowledging_keeps_the_first_acknowledger(engine: Engine) -> None:
    with engine.begin() as connection:
        alarm_id = raise_alarm(connection, station=None, kind="k", key="x", message="m")
        assert acknowledge_alarm(connection, alarm_id, "anh").acknowledged_by == "anh"
        alarm = acknowledge_alarm(connection, alarm_id, "binh")
    assert (alarm.acknowledged_by, alarm.open) == ("anh", True)


def test_an_open_alarm_is_updated_in_place_and_a_cleared_one_is_not(engine: Engine) -> None:
    with engine.begin() as connection:
        alarm_id = raise_alarm(
            connection, station=STATION, kind="seq_reused", key="seq", message="1 reused"
        )
        acknowledge_alarm(connection, alarm_id, "anh")
        assert update_alarm(connection, alarm_id, message="3 reused", details={"n": 3})
        found = find_open_alarm(connection, station=STATION, kind="seq_reused", key="seq")
        assert found is not None
        assert (found.id, found.message, found.details) == (alarm_id, "3 reused", {"n": 3})
        assert found.acknowledged_by == "anh", "an update keeps the acknowledgement"
        other = raise_alarm(connection, station=None, kind="seq_reused", key="x", message="m")
        assert [a.id for a in open_alarms(connection, "seq_reused", lock=True)] == [
            alarm_id,
            other,
        ]
        clear_alarm(connection, station=STATION, kind="seq_reused", key="seq")
        assert not update_alarm(connection, alarm_id, message="late", details=None)
        assert find_open_alarm(connection, station=STATION, kind="seq_reused", key="seq") is None
        assert [a.id for a in open_alarms(connection, "seq_reused")] == [other]
        (history,) = [a for a in list_alarms(connection, open_only=False) if a.id == alarm_id]
    assert history.message == "3 reused"


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(
        create_app(central_settings(database_url)), headers=login_headers(database_url)
    ) as client:
        client.headers.update(login_headers(database_url, Role.OPERATOR))
        yield client


def test_alarms_api_lists_filters_and_acknowledges(client: TestClient, engine: Engine) -> None:
    with engine.begin() as connection:
        gap = raise_alarm(connection, station=STATION, kind="seq_gap", key="3", message="gap")
        raise_alarm(connection, station="a/b/c", kind="event_conflict", key="e", message="c")
        raise_alarm(connection, station=None, kind="old", key="o", message="cleared")
        clear_alarm(connection, station=None, kind="old", key="o")
    listed = client.get("/api/alarms").json()
    assert sorted(a["kind"] for a in listed) == ["event_conflict", "seq_gap"]
    assert len(client.get("/api/alarms", params={"open": "false"}).json()) == 3
    (only,) = client.get("/api/alarms", params={"station": STATION}).json()
    assert (only["id"], only["message"], only["cleared_at"]) == (gap, "gap", None)
    acked = client.post(f"/api/alarms/{gap}/ack", json={"by": "shift lead"})
    assert acked.status_code == 200
    # The signed-in principal is who acknowledged, whatever "by" says.
    assert acked.json()["acknowledged_by"].startswith("token:test-operator-")
    assert client.post("/api/alarms/999999/ack", json={"by": "x"}).status_code == 404
    assert client.post(f"/api/alarms/{gap}/ack", json={"by": ""}).status_code == 422
    assert client.post(f"/api/alarms/{gap}/ack", json={"who": "x"}).status_code == 422
