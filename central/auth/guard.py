"""Deny by default: every route declares who may call it, and the app refuses to start
with a route that does not.

``allow(permission)`` authenticates the caller (a page session's cookie, or a bearer
token), checks the permission and, for a request made with the cookie that changes
something, the session's CSRF token; it sets ``request.state.principal``. A route whose
path names a ``site`` (and ``line``) is also checked against the principal's scopes: a
read outside them is a 404 (what is not yours does not exist), a change a 403.
``public()`` marks a route open on purpose. :func:`refuse_unguarded` is what
``create_app`` calls to refuse a route with neither.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import Depends, HTTPException, Request, status
from fastapi.params import Depends as DependsParam
from fastapi.routing import APIRoute, APIWebSocketRoute
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool
from starlette.routing import BaseRoute, Mount, Route

from linetrace.central.auth.principal import Principal
from linetrace.central.auth.roles import Permission
from linetrace.central.auth.sessions import SessionState, find_session
from linetrace.central.auth.settings import AuthSettings
from linetrace.central.auth.tokens import principal_for_token
from linetrace.errors import LinetraceError

__all__ = [
    "CSRF_FIELD",
    "CSRF_HEADER",
    "SESSION_COOKIE",
    "CurrentPrincipal",
    "Rule",
    "UnguardedRoute",
    "allow",
    "auth_settings",
    "check_csrf",
    "csrf_token",
    "form_fields",
    "guarded_routes",
    "public",
    "refuse_unguarded",
    "rule_of",
    "session_state",
]

SESSION_COOKIE = "linetrace_session"
CSRF_HEADER = "X-CSRF-Token"
CSRF_FIELD = "csrf_token"
_MUTATIONS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_RULE = "linetrace_rule"
_FORM = "application/x-www-form-urlencoded"
# The pages' forms are a few short fields; a bigger body is not one of them.
_MAX_FORM_BYTES = 16 * 1024


class UnguardedRoute(LinetraceError):
    """A route with no access rule, or with more than one."""


@dataclass(frozen=True)
class Rule:
    """A route's access rule: a permission (None: public) and whether it is a page."""

    permission: Permission | None
    page: bool = False


# Only so the OpenAPI description names the bearer scheme (Swagger UI's "Authorize");
# the header is read and checked by _authenticate, which also takes the session cookie.
_BEARER = HTTPBearer(
    auto_error=False,
    scheme_name="token",
    description="A machine token: `linetrace central token create NAME --role ROLE`.",
)
_BearerDoc = Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]


def auth_settings(request: Request) -> AuthSettings:
    found: AuthSettings | None = getattr(request.app.state, "auth_settings", None)
    return found if found is not None else AuthSettings()


def allow(permission: Permission, *, page: bool = False) -> Any:
    """A ``Depends`` for ``dependencies=[...]``: only callers with ``permission`` pass.

    ``page``: an unauthenticated browser is sent to the login page instead of a 401.
    """

    async def guard(request: Request, _documented: _BearerDoc) -> Principal:
        principal = await _authenticate(request, page=page)
        if not principal.may(permission):
            raise HTTPException(
                status.HTTP_403_FORBIDDEN, f"the {principal.role} role may not {permission}"
            )
        _check_scope(request, principal)
        return principal

    setattr(guard, _RULE, Rule(permission, page))
    return Depends(guard)


def public() -> Any:
    """A ``Depends`` marking a route deliberately open (health, metrics, login, docs)."""

    def open_route() -> None:
        return None

    setattr(open_route, _RULE, Rule(None))
    return Depends(open_route)


def _current(request: Request) -> Principal:
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:
        raise HTTPException(status.HTTP_401_UNAUTHORIZED, "authentication required")
    return principal


CurrentPrincipal = Annotated[Principal, Depends(_current)]


def csrf_token(request: Request) -> str | None:
    """The CSRF token a page puts in ``<meta name="csrf-token">`` (session callers only)."""
    token: str | None = getattr(request.state, "csrf_token", None)
    return token


async def _authenticate(request: Request, *, page: bool) -> Principal:
    engine: Engine = request.app.state.engine
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, secret = header.partition(" ")
        if scheme.lower() != "bearer" or not secret.strip():
            raise _unauthenticated(request, page=False, reason="use Authorization: Bearer")
        principal = await run_in_threadpool(_token, engine, secret.strip())
        if principal is None:
            raise _unauthenticated(request, page=False, reason="unknown or expired token")
        request.state.principal = principal
        return principal
    cookie = request.cookies.get(SESSION_COOKIE)
    idle = timedelta(minutes=auth_settings(request).session_idle_minutes)
    session = None if not cookie else await run_in_threadpool(_session, engine, cookie, idle)
    if session is None:
        raise _unauthenticated(request, page=page, reason="log in first")
    if session.must_change_password:
        if page:
            raise HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": "/login/password"})
        raise HTTPException(status.HTTP_403_FORBIDDEN, "change your password first")
    if request.method in _MUTATIONS:
        await _check_csrf(request, session.csrf_token)
    request.state.principal = session.principal
    request.state.csrf_token = session.csrf_token
    return session.principal


async def session_state(request: Request) -> SessionState | None:
    """The live session of the request's cookie, even one that must change its password
    (for the pages that let it: the password change and logout)."""
    cookie = request.cookies.get(SESSION_COOKIE)
    if not cookie:
        return None
    idle = timedelta(minutes=auth_settings(request).session_idle_minutes)
    return await run_in_threadpool(_session, request.app.state.engine, cookie, idle)


async def check_csrf(request: Request, session: SessionState) -> None:
    """403 unless the request carries the session's CSRF token (header or form field)."""
    await _check_csrf(request, session.csrf_token)


def _token(engine: Engine, secret: str) -> Principal | None:
    with engine.begin() as connection:
        return principal_for_token(connection, secret)


def _session(engine: Engine, secret: str, idle: timedelta) -> SessionState | None:
    with engine.begin() as connection:
        return find_session(connection, secret, idle=idle)


def _unauthenticated(request: Request, *, page: bool, reason: str) -> HTTPException:
    if page and request.method in ("GET", "HEAD"):
        target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        location = f"/login?next={quote(target, safe='')}"
        return HTTPException(status.HTTP_303_SEE_OTHER, headers={"Location": location})
    return HTTPException(
        status.HTTP_401_UNAUTHORIZED,
        f"authentication required: {reason}",
        headers={"WWW-Authenticate": "Bearer"},
    )


async def _check_csrf(request: Request, expected: str) -> None:
    import hmac

    given = request.headers.get(CSRF_HEADER)
    if given is None and request.headers.get("content-type", "").startswith(_FORM):
        given = (await form_fields(request)).get(CSRF_FIELD)
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        raise HTTPException(status.HTTP_403_FORBIDDEN, "missing or wrong CSRF token")


async def form_fields(request: Request) -> dict[str, str]:
    """The fields of a URL-encoded form body (the first value of each), read once.

    Parsed here rather than with ``request.form()``, which needs python-multipart for
    what is one standard-library call on the pages' small forms.
    """
    if not request.headers.get("content-type", "").startswith(_FORM):
        return {}
    body = await request.body()
    if len(body) > _MAX_FORM_BYTES:
        raise HTTPException(status.HTTP_413_CONTENT_TOO_LARGE, "form too large")
    try:
        text = body.decode()
    except UnicodeDecodeError:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "form is not UTF-8") from None
    return {key: values[0] for key, values in parse_qs(text, keep_blank_values=True).items()}


def _check_scope(request: Request, principal: Principal) -> None:
    site = request.path_params.get("site")
    if principal.unscoped or not isinstance(site, str):
        return
    line = request.path_params.get("line")
    within = principal.sees(site, line) if isinstance(line, str) else principal.sees_any_of(site)
    if within:
        return
    if request.method in _MUTATIONS:
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{site} is outside your scope")
    raise HTTPException(status.HTTP_404_NOT_FOUND, "not found")


def _flattened(routes: Sequence[Any]) -> Iterator[tuple[BaseRoute, Any]]:
    """(the route as declared, the route as served: with its routers' dependencies)."""
    try:
        from fastapi.routing import iter_route_contexts
    except ImportError:  # FastAPI before lazily included routers: routes are flat
        for route in routes:
            yield route, route
        return
    for context in iter_route_contexts(routes):
        yield context.original_route, context


def rule_of(route: Any) -> Rule | None:
    """The served route's one access rule; None if it has none. Raises if several."""
    original = getattr(route, "original_route", route)
    if not isinstance(original, APIRoute | APIWebSocketRoute):
        return None
    rules = [
        getattr(depends.dependency, _RULE)
        for depends in route.dependencies
        if isinstance(depends, DependsParam) and hasattr(depends.dependency, _RULE)
    ]
    if len(rules) > 1:
        raise UnguardedRoute(f"route {route.path} has {len(rules)} access rules; give it one")
    return rules[0] if rules else None


def guarded_routes(routes: Sequence[Any]) -> Iterator[tuple[Any, Rule]]:
    """Every API route as served, with its rule (for the tests' access matrix)."""
    for _original, served in _flattened(routes):
        rule = rule_of(served)
        if rule is not None:
            yield served, rule


def refuse_unguarded(routes: Sequence[Any], *, openapi_url: str | None) -> None:
    """Raise :class:`UnguardedRoute` naming every route without exactly one rule.

    Mounts (static files) are public by nature; the one plain route allowed is the
    OpenAPI description, which documents the API and holds no data.
    """
    missing: list[str] = []
    for original, served in _flattened(routes):
        if isinstance(original, Mount):
            continue
        if isinstance(original, APIRoute | APIWebSocketRoute):
            if rule_of(served) is None:
                missing.append(str(served.path))
        elif not (isinstance(original, Route) and original.path == openapi_url):
            missing.append(str(getattr(served, "path", None) or repr(original)))
    if missing:
        raise UnguardedRoute("routes without allow(...) or public(): " + ", ".join(sorted(missing)))
