"""The vn-portal adapter against the vn-portal sandbox (a real HTTP server) and a real
database: master data first, a chain per batch, stages, each record created and confirmed
exactly once whatever answers are lost; token refresh; the portal's errors named."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from uuid import UUID

import httpx
import pytest
from sqlalchemy.engine import Engine

from linetrace.central.derive.products import ProductData, put_product
from linetrace.central.relay.sandbox.server import SandboxServer
from linetrace.central.relay.sandbox.vn_portal import VnPortalProfile
from linetrace.central.relay.settings import TargetSettings
from linetrace.central.relay.targets import Outgoing, Reconciling, open_target
from linetrace.central.relay.targets.vn_portal import DatabaseBound, VnPortalTarget
from linetrace.central.relay.targets.vn_portal_client import PortalClient
from linetrace.central.relay.targets.vn_portal_fields import portal_names
from tests.central.helpers import GTIN
from tests.central.relay.portal_helpers import CASE_GLN, IMAGE, PACK_GLN, stored_lot
from tests.central.trace_helpers import LOT

SECRET_ENV = "LINETRACE_TEST_VN_PORTAL_SECRET"
SECRET = "sandbox-secret"


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class LoseConfirmAnswers(httpx.HTTPTransport):
    """Lets each of the first ``n`` confirms reach the portal, then cuts its answer."""

    def __init__(self, n: int) -> None:
        super().__init__()
        self.left = n

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        if request.url.path.endswith("/confirm") and self.left > 0:
            self.left -= 1
            response.read()
            raise httpx.ReadError("connection closed before the answer", request=request)
        return response


@pytest.fixture
def portal() -> Iterator[SandboxServer]:
    server = SandboxServer("vn-portal", options={"client_secret": SECRET}).start()
    try:
        yield server
    finally:
        server.stop()


def settings(portal: SandboxServer, monkeypatch: pytest.MonkeyPatch) -> TargetSettings:
    monkeypatch.setenv(SECRET_ENV, SECRET)
    return TargetSettings(
        name="portal", kind="vn-portal", url=portal.url, auth="oauth2",
        username="linetrace", secret_env=SECRET_ENV,
    )  # fmt: skip


_open: list[VnPortalTarget] = []


@pytest.fixture(autouse=True)
def _close_adapters() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def target(
    portal: SandboxServer,
    engine: Engine,
    transport: httpx.BaseTransport | None = None,
    clock: FakeClock | None = None,
) -> VnPortalTarget:
    names = portal_names({})
    client = PortalClient(
        portal.url, token_url=portal.url + names.paths.token, client_id="linetrace",
        client_secret=SECRET, names=names, timeout_s=5.0, transport=transport,
        **({"clock": clock} if clock else {}),
    )  # fmt: skip
    _open.append(VnPortalTarget("portal", client, names, engine))
    return _open[-1]


def outgoing(event_ids: list[UUID]) -> list[Outgoing]:
    return [Outgoing(i, f"ni:///sha-256;{i.hex}?ver=CBV2.0", LOT, GTIN, {}) for i in event_ids]


def new_product(name: str) -> ProductData:
    return ProductData.model_validate({"name": name, "image_url": IMAGE, "standards": ["TCVN 1"]})


def records(portal: SandboxServer) -> dict[str, list[dict[str, Any]]]:
    profile = portal.profile
    assert isinstance(profile, VnPortalProfile)
    return {
        kind: [r.as_json(profile.names) for r in found.values()]
        for kind, found in profile.records.items()
    }


def test_the_factory_builds_it_from_the_settings(
    portal: SandboxServer, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    built = open_target(settings(portal, monkeypatch))
    assert isinstance(built, VnPortalTarget)
    _open.append(built)
    assert isinstance(built, DatabaseBound)
    assert isinstance(built, Reconciling)
    assert built.requires_portal_elements
    lot = stored_lot(engine, reads=2)
    assert built.deliver(outgoing(lot.event_ids)).retry  # not bound yet: nothing is lost
    built.bind(engine)
    done = built.deliver(outgoing(lot.event_ids))
    assert sorted(done.accepted) == sorted(lot.event_ids), done


def test_a_batch_is_delivered_master_data_first_each_record_created_and_confirmed_once(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=4)
    adapter = target(portal, engine)
    outcome = adapter.deliver(outgoing(lot.event_ids))
    assert sorted(outcome.accepted) == sorted(lot.event_ids), outcome
    assert (outcome.rejected, outcome.retry) == ({}, [])
    held = records(portal)
    assert {kind: len(found) for kind, found in held.items()} == {
        "organisation": 1, "products": 1, "locations": 2, "chains": 1, "stages": 2,
    }  # fmt: skip
    every = [record for found in held.values() for record in found]
    assert all(r["trangThai"] == 1 and r["_creates"] == 1 and r["_confirms"] == 1 for r in every)
    product = held["products"][0]
    assert (product["gtinCode"], product["hinhAnh"]) == (GTIN, IMAGE)
    chain = held["chains"][0]
    assert (chain["maLenhSanXuat"], chain["soLo"], chain["hanSuDung"]) == (
        "PO-7781",
        LOT,
        "2026-03-01",
    )
    assert chain["maTruyXuat"] == f"(01){GTIN}(10){LOT}"
    stages = {s["maTruyVetDiaDiem"]: s for s in held["stages"]}
    assert set(stages) == {f"(414){PACK_GLN}", f"(414){CASE_GLN}"}
    assert stages[f"(414){PACK_GLN}"]["loaiCongDoan"] == "cheBien"
    assert stages[f"(414){CASE_GLN}"]["loaiCongDoan"] == "khoTong"
    assert all(s["maTruyVetSanPham"] == f"(01){GTIN}" for s in stages.values())
    assert all(s["thoiGian"].endswith("+07:00") for s in stages.values())

    assert adapter.already_captured(outgoing(lot.event_ids)) == set(lot.event_ids)
    again = adapter.deliver(outgoing(lot.event_ids))  # a resend changes nothing there
    assert sorted(again.accepted) == sorted(lot.event_ids)
    assert records(portal) == held


def test_a_lost_confirm_answer_is_retried_and_nothing_is_doubled(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=2)
    adapter = target(portal, engine, LoseConfirmAnswers(2))
    for _ in range(2):  # each of the first two confirms reaches the portal, its answer is lost
        lost = adapter.deliver(outgoing(lot.event_ids))
        assert sorted(lost.retry) == sorted(lot.event_ids)
        assert "no answer from the portal" in str(lost.error)
    done = adapter.deliver(outgoing(lot.event_ids))
    assert sorted(done.accepted) == sorted(lot.event_ids)
    every = [record for found in records(portal).values() for record in found]
    assert len(every) == 7
    assert all(r["_creates"] == 1 and r["trangThai"] == 1 for r in every)


def test_a_lost_create_answer_is_found_by_reference_not_created_twice(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=2)
    adapter = target(portal, engine)
    adapter.deliver(outgoing(lot.event_ids[:1]))  # master data, the chain, pack-1's stage
    portal.faults(lose_answer_next=1)  # case-1's location: created, answer cut
    assert adapter.deliver(outgoing(lot.event_ids[1:])).retry == lot.event_ids[1:]
    assert adapter.deliver(outgoing(lot.event_ids[1:])).accepted == lot.event_ids[1:]
    held = records(portal)
    assert len(held["locations"]) == 2
    assert all(r["_creates"] == 1 and r["trangThai"] == 1 for r in held["locations"])


def test_master_data_is_synced_again_when_it_changes(portal: SandboxServer, engine: Engine) -> None:
    lot = stored_lot(engine, reads=2)
    adapter = target(portal, engine)
    adapter.deliver(outgoing(lot.event_ids[:1]))
    with engine.begin() as connection:
        put_product(connection, GTIN, new_product("Sữa tươi 1 L (mới)"))
    assert adapter.deliver(outgoing(lot.event_ids[1:])).accepted == lot.event_ids[1:]
    (product,) = records(portal)["products"]
    assert (product["ten"], product["_creates"], product["_updates"]) == (
        "Sữa tươi 1 L (mới)",
        1,
        1,
    )
    assert product["trangThai"] == 1


def test_tokens_are_refreshed_when_voided_early_and_before_they_expire(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=3)
    clock = FakeClock()
    adapter = target(portal, engine, clock=clock)
    client = adapter._client
    assert adapter.deliver(outgoing(lot.event_ids[:1])).accepted
    portal.faults(expire_tokens=True)  # the gateway voids the token: 401, refresh, retry
    assert adapter.deliver(outgoing(lot.event_ids[1:2])).accepted == lot.event_ids[1:2]
    assert client.tokens_fetched == 2
    clock.now += 3600 - 30  # inside the refresh margin of the 3600 s token
    with engine.begin() as connection:  # a change, so that the next delivery calls the portal
        put_product(connection, GTIN, new_product("Sữa 1 L"))
    assert adapter.deliver(outgoing(lot.event_ids[2:])).accepted == lot.event_ids[2:]
    assert client.tokens_fetched == 3
    stats = portal.stats()
    assert stats["rejections"] == {"token": 1}, stats


def test_an_organisation_not_activated_is_named(portal: SandboxServer, engine: Engine) -> None:
    lot = stored_lot(engine, reads=2)
    httpx.post(f"{portal.url}/_vnportal/organisation", json={"activated": False}, timeout=5)
    outcome = target(portal, engine).deliver(outgoing(lot.event_ids))
    assert set(outcome.rejected) == set(lot.event_ids)
    reason = outcome.rejected[lot.event_ids[0]]
    assert "organisation is not activated on the national portal" in reason
    assert "NullReferenceException" in reason


def test_an_image_the_portal_cannot_fetch_is_named(portal: SandboxServer, engine: Engine) -> None:
    lot = stored_lot(engine, reads=2, image_url="https://images.invalid/milk.jpg")
    outcome = target(portal, engine).deliver(outgoing(lot.event_ids))
    reason = outcome.rejected[lot.event_ids[0]]
    assert "cannot fetch the product image at https://images.invalid/milk.jpg" in reason
    assert "HttpRequestException" in reason


def test_a_lot_lacking_a_required_element_is_refused_before_any_call(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=2, image_url=None)
    outcome = target(portal, engine).deliver(outgoing(lot.event_ids))
    assert "2 product image" in outcome.rejected[lot.event_ids[0]]
    assert portal.stats()["requests"] == 0


def test_throttling_and_outages_are_retried_with_the_portals_pause(
    portal: SandboxServer, engine: Engine
) -> None:
    lot = stored_lot(engine, reads=2)
    adapter = target(portal, engine)
    portal.faults(throttle_next=1, retry_after_s=7)
    throttled = adapter.deliver(outgoing(lot.event_ids))
    assert (sorted(throttled.retry), throttled.retry_after_s) == (sorted(lot.event_ids), 7.0)
    portal.faults(fail_next=1, fail_status=503)
    failed = adapter.deliver(outgoing(lot.event_ids))
    assert "answered 503" in str(failed.error)
    assert sorted(adapter.deliver(outgoing(lot.event_ids)).accepted) == sorted(lot.event_ids)
