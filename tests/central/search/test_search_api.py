"""``GET /api/events`` as the auditors' search: every filter, both orders, pages both ways,
the capped total, scopes, and clear refusals."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.auth.roles import Role
from linetrace.central.query import search
from linetrace.central.store import event_row, insert_events, open_engine
from linetrace.gs1 import check_digit
from tests.central.auth_helpers import login_headers
from tests.central.helpers import GTIN, HCM, central_settings, make_event

RECEIVED = datetime(2025, 3, 1, 1, 30, tzinfo=UTC)
BASE = datetime(2025, 3, 1, 8, 0, tzinfo=HCM)
OTHER_GTIN = "08938500000027"
SSCC = "08938500000000001" + str(check_digit("08938500000000001"))


@pytest.fixture
def client(database_url: str) -> Iterator[TestClient]:
    with TestClient(create_app(central_settings(database_url))) as client:
        client.headers.update(login_headers(database_url, Role.AUDITOR))
        yield client


def seed(database_url: str, *events: Any) -> None:
    engine = open_engine(database_url)
    try:
        with engine.begin() as connection:
            rows = [event_row(e, json.loads(e.to_payload()), RECEIVED) for e in events]
            insert_events(connection, rows)
    finally:
        engine.dispose()


def plant() -> list[Any]:
    """Ten reads on hcm1/L1/label, a no-read, a pack, and reads on two other lines."""
    made = [
        make_event(n, station="hcm1/L1/label", observed_at=BASE + timedelta(seconds=n))
        for n in range(1, 11)
    ]
    made.append(
        make_event(
            11, station="hcm1/L1/label", kind="noread", observed_at=BASE + timedelta(seconds=11)
        )
    )
    made.append(
        make_event(
            1,
            station="hcm1/L1/pack",
            text=f"00{SSCC}",
            gs1={"00": SSCC},
            kind="pack",
            children=[],
            observed_at=BASE + timedelta(seconds=12),
        )
    )
    made.append(
        make_event(
            1,
            station="hcm1/L2/label",
            text=f"01{OTHER_GTIN}10LOT2\x1d21X1",
            gs1={"01": OTHER_GTIN, "10": "LOT2", "21": "X1"},
            observed_at=BASE + timedelta(seconds=13),
        )
    )
    made.append(make_event(1, station="hn1/L1/label", observed_at=BASE + timedelta(seconds=5)))
    return made  # fmt: skip


def seqs(body: dict[str, Any]) -> list[tuple[str, int]]:
    return [(event["station"], event["seq"]) for event in body["events"]]


def test_each_filter_alone(client: TestClient, database_url: str) -> None:
    seed(database_url, *plant())

    def found(**params: str) -> list[tuple[str, int]]:
        response = client.get("/api/events", params=params)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["total"] == len(body["events"])
        assert body["total_exact"] is True
        return seqs(body)

    assert len(found()) == 14
    assert found(site="hn1") == [("label", 1)]
    assert found(site="hcm1", line="L2") == [("label", 1)]
    assert found(gtin=OTHER_GTIN) == [("label", 1)]
    assert found(gtin=OTHER_GTIN[1:]) == [("label", 1)]  # a GTIN-13 is its GTIN-14
    assert found(lot="LOT2") == [("label", 1)]
    assert found(serial="000004") == [("label", 4)]
    assert found(sscc=SSCC) == [("pack", 1)]
    assert found(kind="noread") == [("label", 11)]
    assert found(**{"from": "2025-03-01T08:00:12+07:00"}) == [("label", 1), ("pack", 1)]
    assert found(to="2025-03-01T01:00:02Z") == [("label", 1)]
    window = {"station": "hcm1/L1/label", "seq_from": "3", "seq_to": "5"}
    assert found(**window) == [("label", 5), ("label", 4), ("label", 3)]


def test_seq_order_and_pages_both_ways_with_the_total(
    client: TestClient, database_url: str
) -> None:
    seed(database_url, *plant())
    params = {"station": "hcm1/L1/label", "order": "seq", "direction": "asc", "limit": "4"}
    first = client.get("/api/events", params=params).json()
    assert [seq for _, seq in seqs(first)] == [1, 2, 3, 4]
    assert (first["total"], first["total_exact"], first["prev_cursor"]) == (11, True, None)
    second = client.get("/api/events", params={**params, "cursor": first["next_cursor"]}).json()
    assert [seq for _, seq in seqs(second)] == [5, 6, 7, 8]
    third = client.get("/api/events", params={**params, "cursor": second["next_cursor"]}).json()
    assert [seq for _, seq in seqs(third)] == [9, 10, 11]
    assert third["next_cursor"] is None
    assert third["total"] == 11
    back = client.get("/api/events", params={**params, "cursor": third["prev_cursor"]}).json()
    assert [seq for _, seq in seqs(back)] == [5, 6, 7, 8]
    start = client.get("/api/events", params={**params, "cursor": back["prev_cursor"]}).json()
    assert [seq for _, seq in seqs(start)] == [1, 2, 3, 4]
    assert start["prev_cursor"] is None
    assert start["next_cursor"] is not None


def test_time_order_newest_first_by_default_and_oldest_on_request(
    client: TestClient, database_url: str
) -> None:
    seed(database_url, *plant())
    newest = client.get("/api/events", params={"limit": "2"}).json()
    assert seqs(newest) == [("label", 1), ("pack", 1)]  # hcm1/L2 at +13 s, the pack at +12 s
    oldest = client.get("/api/events", params={"limit": "2", "direction": "asc"}).json()
    assert [e["observed_at"] for e in oldest["events"]] == [
        "2025-03-01T08:00:01+07:00",
        "2025-03-01T08:00:02+07:00",
    ]


def test_a_big_result_says_more_than_the_cap(
    client: TestClient, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(search, "COUNT_CAP", 5)
    seed(database_url, *plant())
    body = client.get("/api/events", params={"limit": "3"}).json()
    assert (body["total"], body["total_exact"]) == (5, False)
    assert len(body["events"]) == 3


def test_a_scoped_caller_sees_and_counts_only_its_lines(database_url: str) -> None:
    seed(database_url, *plant())
    with TestClient(create_app(central_settings(database_url))) as client:
        headers = login_headers(database_url, Role.OPERATOR, scopes=("hcm1/L2", "hn1"))
        body = client.get("/api/events", headers=headers).json()
        assert sorted(event["site"] + "/" + event["line"] for event in body["events"]) == [
            "hcm1/L2",
            "hn1/L1",
        ]
        assert body["total"] == 2
        assert client.get("/api/events").status_code == 401


@pytest.mark.parametrize(
    ("params", "status", "says"),
    [
        ({"seq_from": "3"}, 422, "needs a station"),
        ({"station": "a/b/c", "seq_from": "5", "seq_to": "3"}, 422, "seq_from"),
        ({"seq_to": "-1", "station": "a/b/c"}, 422, "greater than or equal to 0"),
        ({"gtin": "08938500000011"}, 422, "check digit"),
        ({"gtin": "abc"}, 422, "GTIN"),
        ({"sscc": "12"}, 422, "SSCC"),
        ({"lot": "a lot"}, 422, "lot"),
        ({"order": "price"}, 422, "'time' or 'seq'"),
        ({"direction": "up"}, 422, "'asc' or 'desc'"),
        ({"from": "2025-03-01T08:00:00Z", "since": "2025-03-01T08:00:00Z"}, 422, "not both"),
        ({"from": "2025-03-02T00:00:00Z", "to": "2025-03-01T00:00:00Z"}, 422, "before until"),
        ({"cursor": "bm9wZQ"}, 400, "not one this service handed out"),
    ],
)
def test_bad_searches_say_what_is_wrong(
    client: TestClient, params: dict[str, str], status: int, says: str
) -> None:
    response = client.get("/api/events", params=params)
    assert response.status_code == status, response.text
    assert says in response.text


def test_a_cursor_of_another_order_is_refused(client: TestClient, database_url: str) -> None:
    seed(database_url, *plant())
    cursor = client.get("/api/events", params={"limit": "2"}).json()["next_cursor"]
    response = client.get("/api/events", params={"cursor": cursor, "order": "seq"})
    assert response.status_code == 400
    assert "another order" in response.json()["detail"]


def test_the_gtin_filter_matches_the_stored_form(client: TestClient, database_url: str) -> None:
    seed(database_url, make_event(1))
    assert client.get("/api/events", params={"gtin": GTIN}).json()["total"] == 1


@pytest.mark.parametrize("order", ["time", "seq"])
def test_a_lot_search_pages_both_ways(client: TestClient, database_url: str, order: str) -> None:
    """A narrow filter (a lot) takes another plan: its pages and cursors behave the same."""
    seed(database_url, *plant())
    params = {"lot": "L2611", "order": order, "direction": "asc", "limit": "4"}
    pages, body = [], client.get("/api/events", params=params).json()
    while True:
        pages.append([event["event_id"] for event in body["events"]])
        assert body["total"] == 11
        if body["next_cursor"] is None:
            break
        body = client.get("/api/events", params={**params, "cursor": body["next_cursor"]}).json()
    assert [len(page) for page in pages] == [4, 4, 3]
    assert len({event for page in pages for event in page}) == 11
    back = client.get("/api/events", params={**params, "cursor": body["prev_cursor"]}).json()
    assert [event["event_id"] for event in back["events"]] == pages[1]
