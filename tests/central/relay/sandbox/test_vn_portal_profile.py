"""The vn-portal sandbox on its own: tokens, required fields, confirm, look-up by reference."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from linetrace.central.relay.sandbox.server import SandboxServer

ORG = {"maThamChieu": "lt:organisation", "ten": "Công ty A", "diaChi": "Bình Dương"}


@pytest.fixture
def client() -> Iterator[httpx.Client]:
    server = SandboxServer("vn-portal", options={"token_expires_in": 120}).start()
    try:
        with httpx.Client(base_url=server.url, timeout=5.0) as client:
            yield client
    finally:
        server.stop()


SECRET = "sandbox-secret"


def token(client: httpx.Client, secret: str = SECRET) -> httpx.Response:
    form = {"grant_type": "client_credentials", "client_id": "linetrace", "client_secret": secret}
    return client.post("/connect/token", data=form)


def test_tokens_need_the_client_credentials_and_advertise_their_lifetime(
    client: httpx.Client,
) -> None:
    assert token(client, "wrong").status_code == 401
    answer = token(client).json()
    assert answer["expires_in"] == 120
    assert client.post("/tochuc/v5/ToChuc_HoSo", json=ORG).status_code == 401


def test_records_are_created_confirmed_and_found_by_reference(client: httpx.Client) -> None:
    client.headers["Authorization"] = "Bearer " + token(client).json()["access_token"]
    refused = client.post("/tochuc/v5/ToChuc_HoSo", json={**ORG, "diaChi": ""})
    assert refused.status_code == 400
    assert refused.json()["code"] == "ERR_VALIDATION"
    assert "diaChi" in refused.json()["message"]
    created = client.post("/tochuc/v5/ToChuc_HoSo", json=ORG)
    assert created.status_code == 201
    record_id = created.json()["data"]["id"]
    for _ in range(2):  # confirming twice is harmless
        confirmed = client.put(f"/tochuc/v5/ToChuc_HoSo/{record_id}/confirm")
        assert confirmed.json()["data"]["trangThai"] == 1
    found = client.get("/tochuc/v5/ToChuc_HoSo", params={"maThamChieu": "lt:organisation"})
    assert [r["id"] for r in found.json()["data"]] == [record_id]
    chain = {"maThamChieu": "c", "idSanPham": "nope", "soLo": "L1", "maTruyXuat": "x",
             "ngaySanXuat": "2025-03-01"}  # fmt: skip
    unknown = client.post("/tochuc/v5/LenhSanXuat", json=chain)
    assert (unknown.status_code, unknown.json()["code"]) == (400, "ERR_VALIDATION")
