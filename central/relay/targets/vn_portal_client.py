"""The national portal's HTTP gateway: OAuth2 client credentials, JSON calls, and its
error bodies turned into reasons an operator can act on.

The token is fetched on first use and again shortly before it expires (the margin
below) or when a call answers 401 (a token the gateway voided early): one refresh and
one retry, after which the credentials themselves are reported as rejected. Errors come
back as .NET exception text (``debugMessage``, code ``ERR_SYS_DEV``); the two known ones
are named (an organisation not yet activated, an image URL the portal cannot fetch),
anything else is quoted. Names of fields and paths come from :mod:`.vn_portal_fields`.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from linetrace.central.relay.targets.vn_portal_fields import PortalNames
from linetrace.errors import LinetraceError

__all__ = ["PortalClient", "PortalFailure", "failure_of"]

log = logging.getLogger(__name__)

# Refresh this long before the advertised expiry: a call started just before it must
# not carry a token that dies in flight. A tenth of a short lifetime, a minute at most.
REFRESH_MARGIN_S = 60.0
REFRESH_MARGIN_SHARE = 0.1
# Debug text is a .NET stack trace; its first line names the exception, the rest is
# noise for an operator. A reason quotes at most this much of it.
QUOTE_LIMIT = 300


class PortalFailure(LinetraceError):
    """A call the portal did not take: ``transient`` ones are tried again later.

    ``kind`` is a short word for tests and status: ``organisation_not_activated``,
    ``image_unreachable``, ``token``, ``throttled``, ``unavailable``, ``refused``.
    """

    def __init__(
        self, reason: str, *, kind: str, transient: bool, retry_after_s: float | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.kind = kind
        self.transient = transient
        self.retry_after_s = retry_after_s


def failure_of(
    response: httpx.Response, names: PortalNames, *, what: str, image_url: str | None = None
) -> PortalFailure:
    """The failure an error answer means; ``what`` says what was being sent."""
    status = response.status_code
    if status == 429:
        return PortalFailure(
            f"the portal is throttling requests (429) while sending {what}",
            kind="throttled",
            transient=True,
            retry_after_s=_retry_after(response.headers.get("retry-after")),
        )
    code, message, debug = _error_body(response, names)
    said = _quote(code, message, debug)
    if "NullReferenceException" in debug and "SanPham" in debug:
        return PortalFailure(
            "the organisation is not activated on the national portal yet (its product "
            "insert failed with a NullReferenceException): activate the organisation "
            f"profile (tax code, GLN) on truyxuatnguongoc.gov.vn, then retry; {said}",
            kind="organisation_not_activated",
            transient=False,
        )
    if "HttpRequestException" in debug or "Upload" in debug:
        url = image_url or "the product's image URL"
        return PortalFailure(
            f"the portal cannot fetch the product image at {url}: give the product a "
            f"public https image URL (product set --image-url), then retry; {said}",
            kind="image_unreachable",
            transient=False,
        )
    if status == 401:
        return PortalFailure(
            f"the portal rejected the access token while sending {what}; {said}",
            kind="token",
            transient=True,
        )
    if status >= 500 or status == 408:
        return PortalFailure(
            f"the portal answered {status} while sending {what}; {said}",
            kind="unavailable",
            transient=True,
            retry_after_s=_retry_after(response.headers.get("retry-after")),
        )
    return PortalFailure(
        f"the portal refused {what} ({status}); {said}", kind="refused", transient=False
    )


class PortalClient:
    """One target's connection to the gateway; not thread-safe (one worker uses it)."""

    def __init__(
        self,
        base_url: str,
        *,
        token_url: str,
        client_id: str,
        client_secret: str,
        names: PortalNames,
        timeout_s: float,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.names = names
        self._token_url = token_url
        self._credentials = {
            "grant_type": "client_credentials",
            "client_id": client_id,
            "client_secret": client_secret,
        }
        self._clock = clock
        self._http = httpx.Client(base_url=base_url, timeout=timeout_s, transport=transport)
        self._token: str | None = None
        self._refresh_at = 0.0
        self._expires_at: datetime | None = None
        self.tokens_fetched = 0

    def close(self) -> None:
        self._http.close()

    def health(self) -> dict[str, object]:
        valid = self._token is not None and self._clock() < self._refresh_at
        return {
            "token": "valid" if valid else "none",
            "token_expires_at": self._expires_at.isoformat() if self._expires_at else None,
            "tokens_fetched": self.tokens_fetched,
        }

    def call(
        self,
        method: str,
        path: str,
        *,
        what: str,
        body: dict[str, Any] | None = None,
        params: dict[str, str] | None = None,
        image_url: str | None = None,
    ) -> Any:
        """The ``data`` of the portal's answer; PortalFailure when it did not take it."""
        for attempt in (1, 2):
            headers = {"Authorization": f"Bearer {self._bearer()}"}
            try:
                response = self._http.request(
                    method, path, json=body, params=params, headers=headers
                )
            except httpx.TransportError as exc:
                raise PortalFailure(
                    f"no answer from the portal while sending {what}: {exc!r}",
                    kind="unavailable",
                    transient=True,
                ) from exc
            if response.status_code == 401 and attempt == 1:
                log.info("portal answered 401 to %s %s: fetching a new token", method, path)
                self._token = None
                continue
            if response.is_success:
                return _data(response, self.names, what)
            raise failure_of(response, self.names, what=what, image_url=image_url)
        raise AssertionError("unreachable: the second 401 raised above")

    def _bearer(self) -> str:
        if self._token is None or self._clock() >= self._refresh_at:
            self._fetch_token()
        assert self._token is not None  # noqa: S101 - set by _fetch_token or it raised
        return self._token

    def _fetch_token(self) -> None:
        fields = self.names.fields
        try:
            response = self._http.post(self._token_url, data=self._credentials)
        except httpx.TransportError as exc:
            raise PortalFailure(
                f"no answer from the portal's token endpoint: {exc!r}",
                kind="unavailable",
                transient=True,
            ) from exc
        if response.status_code in (400, 401, 403):
            raise PortalFailure(
                f"the portal's token endpoint refused the client credentials (client id "
                f"{self._credentials['client_id']}, {response.status_code}): check the "
                "target's username and secret",
                kind="token",
                transient=True,
            )
        if not response.is_success:
            raise failure_of(response, self.names, what="the token request")
        answer = response.json()
        lifetime = float(answer.get(fields.token_expires_in) or 300)
        margin = min(REFRESH_MARGIN_S, lifetime * REFRESH_MARGIN_SHARE)
        self._token = str(answer[fields.token_access])
        self._refresh_at = self._clock() + lifetime - margin
        self._expires_at = datetime.now(UTC) + timedelta(seconds=lifetime)
        self.tokens_fetched += 1


def _data(response: httpx.Response, names: PortalNames, what: str) -> Any:
    try:
        answer = response.json()
    except ValueError as exc:
        raise PortalFailure(
            f"the portal's answer to {what} is not JSON", kind="refused", transient=True
        ) from exc
    return answer.get(names.fields.answer_data) if isinstance(answer, dict) else answer


def _error_body(response: httpx.Response, names: PortalNames) -> tuple[str, str, str]:
    fields = names.fields
    try:
        body = response.json()
    except ValueError:
        return "", response.text[:QUOTE_LIMIT].strip(), ""
    if not isinstance(body, dict):
        return "", str(body)[:QUOTE_LIMIT], ""
    return (
        str(body.get(fields.error_code) or ""),
        str(body.get(fields.error_message) or ""),
        str(body.get(fields.error_debug) or ""),
    )


def _quote(code: str, message: str, debug: str) -> str:
    first = debug.strip().splitlines()[0] if debug.strip() else ""
    parts = [part for part in (code, message, first) if part]
    text = ": ".join(parts) or "no error body"
    return "portal said: " + (text if len(text) <= QUOTE_LIMIT else text[:QUOTE_LIMIT] + "…")


def _retry_after(value: str | None) -> float | None:
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
