"""The ``vn-portal`` profile: a stand-in for Vietnam's National Traceability Portal.

It follows the flow known from unofficial client code (see
:mod:`linetrace.central.relay.targets.vn_portal_fields`, whose names it shares, so the
two cannot drift apart): an OAuth2 client-credentials token endpoint with ``expires_in``;
master data first (organisation, products with image URLs, locations); then per
production order a trace chain and its stages. Every record is created with ``POST``
(answer ``{"data": {"id": ...}}``), may be changed with ``PUT {path}/{id}`` and is
confirmed with ``PUT {path}/{id}/confirm`` (confirming twice is harmless); ``GET
{path}?maThamChieu=REF`` finds records by the client's own reference.

It refuses what the real one refuses, in its words: a missing required field (400,
``ERR_VALIDATION``); a product of an organisation not yet activated (500,
``ERR_SYS_DEV``, a ``NullReferenceException`` in ``ToChuc_SanPhamService.DoBusiness
InsertAsync``); an image URL it cannot fetch (500, ``ERR_SYS_DEV``, an
``HttpRequestException`` in the upload); a token that is unknown or expired (401). The
sandbox cannot reach the internet, so an image URL is "fetchable" when it is http(s) and
its host is not local, private or under ``.invalid``.

Options (``SandboxState.options``): ``client_id`` / ``client_secret`` (defaults
``linetrace`` / ``sandbox-secret``), ``token_expires_in`` (what the token answer
advertises, default 3600 s; the fault plan's ``token_ttl_s`` makes tokens die earlier,
``expire_tokens`` kills them all), ``organisation_activated`` (default true). At run
time ``POST /_vnportal/organisation {"activated": bool}`` switches activation and
``GET /_vnportal/records`` lists everything accepted, per kind, with how many times
each record was created, changed and confirmed.
"""

from __future__ import annotations

import ipaddress
import json
import secrets
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from linetrace.central.relay.sandbox.state import SandboxState
from linetrace.central.relay.targets.vn_portal_fields import PortalNames, portal_names
from linetrace.errors import InvalidCode
from linetrace.gs1 import gtin14, valid_gln

__all__ = ["KINDS", "PortalRecord", "VnPortalProfile", "build"]

KINDS = ("organisation", "products", "locations", "chains", "stages")
_NULL_REFERENCE = (
    "System.NullReferenceException: Object reference not set to an instance of an object.\n"
    "   at TXNG.Application.ToChuc.ToChuc_SanPhamService.DoBusinessInsertAsync("
    "ToChuc_SanPhamDto input)\n   at TXNG.Application.Common.CrudService`2.InsertAsync()"
)
_UPLOAD_FAILED = (
    "System.Net.Http.HttpRequestException: The image at '{url}' could not be downloaded "
    "(Name or service not known).\n   at TXNG.Application.Files.FileService.UploadFromUrlAsync("
    "String url)\n   at TXNG.Application.ToChuc.ToChuc_SanPhamService.DoBusinessInsertAsync("
    "ToChuc_SanPhamDto input)"
)


@dataclass
class PortalRecord:
    """One record the portal holds, and what was done to it."""

    id: str
    kind: str
    body: dict[str, Any]
    confirmed: bool = False
    creates: int = 1
    updates: int = 0
    confirms: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)

    def as_json(self, names: PortalNames) -> dict[str, Any]:
        return {
            **self.body,
            names.fields.answer_id: self.id,
            names.fields.answer_state: 1 if self.confirmed else 0,
            "_kind": self.kind,
            "_creates": self.creates,
            "_updates": self.updates,
            "_confirms": self.confirms,
        }


class VnPortalProfile:
    """The national portal's stand-in on a sandbox's shared state."""

    name = "vn-portal"

    def __init__(self, state: SandboxState) -> None:
        self.state = state
        options = state.options
        self.names = portal_names(options)
        self.client_id = str(options.get("client_id", "linetrace"))
        self.client_secret = str(options.get("client_secret", "sandbox-secret"))
        self.expires_in = int(str(options.get("token_expires_in", 3600)))
        self.activated = bool(options.get("organisation_activated", True))
        self._lock = threading.Lock()
        self._tokens: dict[str, tuple[float, int]] = {}
        self.records: dict[str, dict[str, PortalRecord]] = {kind: {} for kind in KINDS}

    def routes(self) -> Sequence[BaseRoute]:
        paths = self.names.paths
        confirm = paths.confirm.replace("{id}", "{record_id}")
        routes: list[BaseRoute] = [
            Route(paths.token, self.token, methods=["POST"]),
            Route("/_vnportal/records", self.list_records, methods=["GET"]),
            Route("/_vnportal/organisation", self.set_activation, methods=["POST"]),
        ]
        for kind in KINDS:
            path = getattr(paths, kind)
            routes += [
                Route(path, self._handler(self.create, kind), methods=["POST"]),
                Route(path, self._handler(self.find, kind), methods=["GET"]),
                Route(path + confirm, self._handler(self.confirm, kind), methods=["PUT"]),
                Route(path + "/{record_id}", self._handler(self.update, kind), methods=["PUT"]),
            ]
        return routes

    def limits(self) -> dict[str, object]:
        return {"records_per_request": 1, "token_expires_in": self.expires_in}

    def stats(self) -> dict[str, object]:
        with self._lock:
            return {
                kind: {
                    "records": len(found),
                    "confirmed": sum(r.confirmed for r in found.values()),
                    "creates": sum(r.creates for r in found.values()),
                    "confirms": sum(r.confirms for r in found.values()),
                }
                for kind, found in self.records.items()
            } | {"tokens_issued": len(self._tokens), "organisation_activated": self.activated}

    def reset(self) -> None:
        with self._lock:
            self.records = {kind: {} for kind in KINDS}
            self._tokens.clear()

    # -- auth ------------------------------------------------------------------------

    async def token(self, request: Request) -> Response:
        # Parsed here: Starlette's request.form() needs python-multipart, not a dependency.
        form = {
            k: v[-1] for k, v in parse_qs((await request.body()).decode("utf-8", "replace")).items()
        }
        good = (
            form.get("grant_type") == "client_credentials"
            and secrets.compare_digest(str(form.get("client_id", "")), self.client_id)
            and secrets.compare_digest(str(form.get("client_secret", "")), self.client_secret)
        )
        if not good:
            self.state.stats.reject("bad_client")
            return JSONResponse({"error": "invalid_client"}, 401)
        access = secrets.token_urlsafe(24)
        with self._lock:
            self._tokens[access] = (self.state.monotonic(), self.state.faults.token_epoch)
        self.state.stats.add("tokens_issued")
        fields = self.names.fields
        return JSONResponse(
            {
                fields.token_access: access,
                "token_type": "Bearer",
                fields.token_expires_in: self.expires_in,
            }
        )

    def _token_problem(self, request: Request) -> str | None:
        scheme, _, access = request.headers.get("authorization", "").partition(" ")
        if scheme.lower() != "bearer":
            return "a bearer token is required"
        with self._lock:
            issued = self._tokens.get(access)
        if issued is None:
            return "unknown token"
        if self.state.faults.token_expired(*issued):
            return "token expired"
        return None

    def _handler(self, method: Any, kind: str) -> Any:
        async def handle(request: Request) -> Response:
            problem = self._token_problem(request)
            if problem is not None:
                self.state.stats.reject("token")
                return _error(401, "ERR_UNAUTHORIZED", problem, None)
            response: Response = await method(request, kind)
            return response

        return handle

    # -- records ---------------------------------------------------------------------

    async def create(self, request: Request, kind: str) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        refused = self._refusal(kind, body)
        if refused is not None:
            return refused
        with self._lock:
            record = PortalRecord(id=secrets.token_hex(8), kind=kind, body=body)
            self.records[kind][record.id] = record
        self.state.stats.add(f"{kind}_created")
        return JSONResponse({self.names.fields.answer_data: record.as_json(self.names)}, 201)

    async def update(self, request: Request, kind: str) -> Response:
        record = self._record(kind, request.path_params["record_id"])
        if isinstance(record, Response):
            return record
        body = await _json(request)
        if isinstance(body, Response):
            return body
        refused = self._refusal(kind, body)
        if refused is not None:
            return refused
        with self._lock:
            record.history.append(record.body)
            record.body, record.confirmed = body, False
            record.updates += 1
        return JSONResponse({self.names.fields.answer_data: record.as_json(self.names)})

    async def confirm(self, request: Request, kind: str) -> Response:
        record = self._record(kind, request.path_params["record_id"])
        if isinstance(record, Response):
            return record
        with self._lock:
            record.confirmed = True
            record.confirms += 1
        self.state.stats.add(f"{kind}_confirmed")
        return JSONResponse({self.names.fields.answer_data: record.as_json(self.names)})

    async def find(self, request: Request, kind: str) -> Response:
        reference = request.query_params.get(self.names.fields.reference)
        with self._lock:
            found = [
                r.as_json(self.names)
                for r in self.records[kind].values()
                if reference is None or r.body.get(self.names.fields.reference) == reference
            ]
        return JSONResponse({self.names.fields.answer_data: found})

    async def list_records(self, request: Request) -> Response:
        del request
        with self._lock:
            found = {
                k: [r.as_json(self.names) for r in v.values()] for k, v in self.records.items()
            }
        return JSONResponse(found)

    async def set_activation(self, request: Request) -> Response:
        body = await _json(request)
        if isinstance(body, Response):
            return body
        self.activated = bool(body.get("activated", True))
        return JSONResponse({"organisation_activated": self.activated})

    def _record(self, kind: str, record_id: str) -> PortalRecord | Response:
        with self._lock:
            record = self.records[kind].get(record_id)
        if record is None:
            return _error(404, "ERR_NOT_FOUND", f"không tìm thấy bản ghi {record_id}", None)
        return record

    # -- validation ------------------------------------------------------------------

    def _refusal(self, kind: str, body: dict[str, Any]) -> Response | None:
        """The portal's answer refusing ``body``, or None when it is taken."""
        missing = [name for name in self._required(kind) if body.get(name) in (None, "", [])]
        if missing:
            self.state.stats.reject("missing_field")
            return _error(
                400, "ERR_VALIDATION", f"Thiếu trường bắt buộc: {', '.join(missing)}", None
            )
        problem = self._bad_value(kind, body)
        if problem is not None:
            self.state.stats.reject("bad_value")
            return _error(400, "ERR_VALIDATION", problem, None)
        f = self.names.fields
        if kind == "products":
            if not self.activated:
                self.state.stats.reject("organisation_not_activated")
                return _error(500, "ERR_SYS_DEV", "Có lỗi xảy ra", _NULL_REFERENCE)
            url = str(body[f.product_image])
            if not _fetchable(url):
                self.state.stats.reject("image_unreachable")
                return _error(500, "ERR_SYS_DEV", "Có lỗi xảy ra", _UPLOAD_FAILED.format(url=url))
        return None

    def _required(self, kind: str) -> tuple[str, ...]:
        f = self.names.fields
        return {
            "organisation": (f.reference, f.org_name, f.org_address),
            "products": (f.reference, f.organisation_id, f.product_name, f.product_gtin,
                         f.product_image),
            "locations": (f.reference, f.organisation_id, f.location_name, f.location_address,
                          f.location_gln),
            "chains": (f.reference, f.chain_product_id, f.chain_lot, f.chain_trace_code,
                       f.chain_production_date),
            "stages": (f.reference, f.stage_chain_id, f.stage_type, f.stage_product_code,
                       f.stage_location_code, f.stage_location_id, f.stage_time),
        }[kind]  # fmt: skip

    def _bad_value(self, kind: str, body: dict[str, Any]) -> str | None:
        f = self.names.fields
        try:
            if kind == "products":
                gtin14(str(body[f.product_gtin]))
            elif kind == "locations":
                valid_gln(str(body[f.location_gln]))
            elif kind == "chains":
                return self._unconfirmed("products", body[f.chain_product_id])
            elif kind == "stages":
                when = datetime.fromisoformat(str(body[f.stage_time]))
                if when.tzinfo is None:
                    return f"{f.stage_time} thiếu múi giờ (time without an offset)"
                if body[f.stage_type] not in self.names.stages.values():
                    return f"{f.stage_type} không hợp lệ: {body[f.stage_type]}"
                return self._unconfirmed("chains", body[f.stage_chain_id]) or self._unconfirmed(
                    "locations", body[f.stage_location_id]
                )
        except (InvalidCode, ValueError) as exc:
            return str(exc)
        return None

    def _unconfirmed(self, kind: str, record_id: object) -> str | None:
        with self._lock:
            record = self.records[kind].get(str(record_id))
        if record is None or not record.confirmed:
            return f"{kind} {record_id} không tồn tại hoặc chưa được xác nhận"
        return None


def build(state: SandboxState) -> VnPortalProfile:
    """The profile registered as ``vn-portal`` in :data:`~.profiles.PROFILES`."""
    return VnPortalProfile(state)


def _error(status: int, code: str, message: str, debug: str | None) -> JSONResponse:
    """The portal's error body (default field names: the sandbox answers in them)."""
    return JSONResponse({"code": code, "message": message, "debugMessage": debug}, status)


async def _json(request: Request) -> dict[str, Any] | Response:
    try:
        body = json.loads(await request.body())
    except ValueError:
        return _error(400, "ERR_VALIDATION", "Dữ liệu không phải JSON", None)
    if not isinstance(body, dict):
        return _error(400, "ERR_VALIDATION", "Dữ liệu phải là một đối tượng JSON", None)
    return body


def _fetchable(url: str) -> bool:
    """Whether the portal could download ``url``: public http(s), not a local name."""
    parts = urlsplit(url)
    host = (parts.hostname or "").lower()
    if parts.scheme not in {"http", "https"} or not host:
        return False
    if host == "localhost" or host.endswith((".invalid", ".local", ".localhost", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True
    return address.is_global
