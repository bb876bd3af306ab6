"""``/api/alarm-rules`` (admins, validated, audited) and acknowledging with a comment."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from fastapi.testclient import TestClient
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.derive.alarms import list_alarms, raise_alarm
from linetrace.central.store.audit_tables import audit_log
from tests.central.alarms.test_sweeps import Line, sweep
from tests.central.auth_helpers import login_headers
from tests.central.helpers import STATION, central_settings, register


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url))) as client:
        yield client


def test_admins_read_and_replace_the_thresholds(
    client: TestClient, database_url: str, engine: Engine
) -> None:
    register(database_url, STATION)
    admin = login_headers(database_url, Role.ADMIN)
    shown = client.get("/api/alarm-rules", headers=admin)
    assert shown.status_code == 200
    body = shown.json()
    assert body["builtin"]["read_rate_min_pct"] == 90.0
    assert [s["station"] for s in body["stations"]] == [STATION]
    put = client.put(
        "/api/alarm-rules",
        headers=admin,
        json={
            "defaults": {"read_rate_min_pct": 92.5, "window_s": 600},
            "stations": {STATION: {"noread_max_pct": 5, "offline_after_s": None}},
        },
    )
    assert put.status_code == 200, put.text
    after = put.json()
    assert after["effective_defaults"]["read_rate_min_pct"] == 92.5
    (station,) = after["stations"]
    assert station["overrides"] == {"noread_max_pct": 5, "offline_after_s": None}
    assert station["effective"]["window_s"] == 600
    assert station["effective"]["offline_after_s"] is None
    assert after["updated_by"].startswith("token:test-admin-")
    assert client.get("/api/alarm-rules", headers=admin).json() == after
    with engine.connect() as connection:
        (_action, actor) = connection.execute(
            sa.select(audit_log.c.action, audit_log.c.actor).where(
                audit_log.c.action == "alarm_rules.set"
            )
        ).one()
    assert actor == after["updated_by"]


@pytest.mark.parametrize(
    ("body", "says"),
    [
        ({"defaults": {"read_rate_min_pct": 120}}, "less than or equal to 100"),
        ({"defaults": {"window_s": None}}, "window_s cannot be turned off"),
        ({"defaults": {"loudness": 3}}, "Extra inputs"),
        ({"stations": {"hcm1/L1/unknown": {"min_events": 5}}}, "not a registered station"),
        ({"stations": {"not a station": {}}}, "not SITE/LINE/STATION"),
        ({"limits": {}}, "Extra inputs"),
        ({"defaults": {"min_events": True}}, "valid integer"),
        ({"defaults": {"read_rate_min_pct": "90"}}, "valid number"),
    ],
)
def test_bad_thresholds_are_a_clear_422(
    client: TestClient, database_url: str, body: dict[str, object], says: str
) -> None:
    register(database_url, STATION)
    answer = client.put("/api/alarm-rules", headers=login_headers(database_url), json=body)
    assert answer.status_code == 422
    assert says in answer.text


def test_only_admins_may_see_or_set_thresholds(client: TestClient, database_url: str) -> None:
    assert client.get("/api/alarm-rules").status_code == 401
    for role in (Role.OPERATOR, Role.AUDITOR):
        headers = login_headers(database_url, role)
        assert client.get("/api/alarm-rules", headers=headers).status_code == 403
        assert client.put("/api/alarm-rules", headers=headers, json={}).status_code == 403


def test_acknowledging_with_a_comment_records_who_and_why(
    client: TestClient, database_url: str, engine: Engine
) -> None:
    with engine.begin() as connection:
        first = raise_alarm(connection, station=STATION, kind="seq_gap", key="3", message="gap")
        second = raise_alarm(connection, station=STATION, kind="seq_gap", key="9", message="gap")
    operator = login_headers(database_url, Role.OPERATOR)
    acked = client.post(
        f"/api/alarms/{first}/ack",
        headers=operator,
        json={"by": "someone else", "comment": "  outbox checked, resend under way "},
    )
    assert acked.status_code == 200
    who = acked.json()["acknowledged_by"]
    assert who.startswith("token:test-operator-")
    assert acked.json()["acknowledged_comment"] == "outbox checked, resend under way"
    # "by" is still taken (older clients send it) but the signed-in principal is recorded;
    # a comment is optional.
    plain = client.post(f"/api/alarms/{second}/ack", headers=operator, json={"by": "anh"})
    assert (plain.json()["acknowledged_by"], plain.json()["acknowledged_comment"]) == (
        who,
        None,
    )
    long = {"comment": "x" * 1001}
    assert client.post(f"/api/alarms/{second}/ack", headers=operator, json=long).status_code == 422
    auditor = login_headers(database_url, Role.AUDITOR)
    assert client.post(f"/api/alarms/{second}/ack", headers=auditor, json={}).status_code == 403
    listed = {a["id"]: a for a in client.get("/api/alarms", headers=operator).json()}
    assert listed[first]["acknowledged_comment"] == "outbox checked, resend under way"
    with engine.connect() as connection:
        actors = connection.execute(
            sa.select(audit_log.c.actor).where(audit_log.c.action == "alarm.acknowledge")
        ).scalars()
        assert list(actors) == [who, who]


def test_an_acknowledged_threshold_alarm_still_clears_by_itself(
    client: TestClient, database_url: str, engine: Engine
) -> None:
    now = datetime.now(UTC)
    line = Line(engine)
    line.passes(15, 5, now)
    (alarm_id,) = [a.id for a in sweep(engine, now).values() if a.kind == "read_rate"]
    answer = client.post(
        f"/api/alarms/{alarm_id}/ack",
        headers=login_headers(database_url, Role.OPERATOR),
        json={"comment": "lens cleaned"},
    )
    assert answer.status_code == 200
    line.passes(80, 0, now + timedelta(seconds=1))
    assert "read_rate" not in {kind for _s, kind, _k in sweep(engine, now + timedelta(seconds=1))}
    with engine.connect() as connection:
        (done,) = [a for a in list_alarms(connection, open_only=False) if a.id == alarm_id]
    assert (done.open, done.acknowledged_comment) == (False, "lens cleaned")


def test_a_scoped_admin_sees_and_sets_only_their_stations(
    client: TestClient, database_url: str
) -> None:
    other = "dng1/L1/pack-1"
    register(database_url, STATION, other)
    everyone = login_headers(database_url, Role.ADMIN)
    first = {"defaults": {"window_s": 600}, "stations": {other: {"min_events": 50}}}
    assert client.put("/api/alarm-rules", headers=everyone, json=first).status_code == 200
    hcm = login_headers(database_url, Role.ADMIN, scopes=("hcm1",))
    shown = client.get("/api/alarm-rules", headers=hcm).json()
    assert [s["station"] for s in shown["stations"]] == [STATION]
    # Their station only; the defaults and the other site's row are kept as stored.
    mine = {"defaults": {"window_s": 600}, "stations": {STATION: {"noread_max_pct": 4}}}
    answer = client.put("/api/alarm-rules", headers=hcm, json=mine)
    assert answer.status_code == 200, answer.text
    full = client.get("/api/alarm-rules", headers=everyone).json()
    assert {s["station"]: s["overrides"] for s in full["stations"]} == {
        other: {"min_events": 50},
        STATION: {"noread_max_pct": 4},
    }
    defaults = {"defaults": {"window_s": 900}}
    assert client.put("/api/alarm-rules", headers=hcm, json=defaults).status_code == 403
    theirs = {"defaults": {"window_s": 600}, "stations": {other: {"min_events": 5}}}
    assert client.put("/api/alarm-rules", headers=hcm, json=theirs).status_code == 403
