"""Which Host headers the API answers: the loopback names, the bind address and the
configured ``[api] allowed_hosts``; anything else gets a 400 before any route runs.

This is the defence against DNS rebinding: a page of another site, rebound to this
machine's address, reaches the API with its own name in ``Host``. Starlette's
:class:`~starlette.middleware.trustedhost.TrustedHostMiddleware` decides (it parses
bracketed IPv6 hosts and ``*.domain`` patterns); :class:`HostGuard` only turns its
plain-text refusal into a JSON answer that names the setting to change.
"""

from __future__ import annotations

import ipaddress
import logging

from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from linetrace.central.config import ApiSettings

__all__ = ["LOOPBACK_HOSTS", "HostGuard", "trusted_hosts"]

log = logging.getLogger(__name__)

# Names that only ever mean this machine: a rebinding attacker cannot send them, since
# the browser puts the attacker's own name in Host.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1", "::1")
# Bind addresses that mean "every interface": not a name any client puts in Host.
_ANY_ADDRESS = {"0.0.0.0", "::", ""}  # noqa: S104  (compared with, never bound)
_SCOPE_KEY = "linetrace.host_allowed"


def _as_host_header(name: str) -> str:
    """The form a Host header carries: IPv6 literals in brackets."""
    try:
        address = ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return name.lower()
    return f"[{address.compressed}]" if address.version == 6 else address.compressed


def trusted_hosts(api: ApiSettings) -> list[str]:
    """The Host values the API answers to, in TrustedHostMiddleware's form."""
    names = [*LOOPBACK_HOSTS, *([] if api.host in _ANY_ADDRESS else [api.host])]
    names += api.allowed_hosts
    return list(dict.fromkeys(_as_host_header(name) for name in names))


class HostGuard:
    """Refuse requests whose Host header is not one of ``allowed_hosts`` (400, JSON)."""

    def __init__(self, app: ASGIApp, allowed_hosts: list[str]) -> None:
        self.app = app
        # The check alone: its inner app only marks the request as allowed.
        self._check = TrustedHostMiddleware(self._allow, allowed_hosts, www_redirect=False)

    @staticmethod
    async def _allow(scope: Scope, receive: Receive, send: Send) -> None:
        scope[_SCOPE_KEY] = True

    @staticmethod
    async def _discard(message: object) -> None:
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        probe: Scope = dict(scope)
        await self._check(probe, receive, self._discard)
        if probe.get(_SCOPE_KEY):
            await self.app(scope, receive, send)
            return
        host = dict(scope["headers"]).get(b"host", b"").decode("latin-1")
        log.warning("refused a request for host %r (not in [api] allowed_hosts)", host[:100])
        refusal = JSONResponse(
            {
                "detail": "this host name is not served here; the operator may add it to "
                "[api] allowed_hosts in central's settings"
            },
            status_code=400,
        )
        await refusal(scope, receive, send)
