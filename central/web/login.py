"""The login, password-change and logout pages.

A successful login makes a server-side session and sets its cookie: HTTP-only (no script
reads it), SameSite=Strict (no other site's page sends it) and Secure over HTTPS. Failed
logins are counted per account and per client address (:mod:`..auth.ratelimit`); past the
limit the answer is a 429 with ``Retry-After`` whatever the password. Logins, failed
logins, logouts and password changes are audit records.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request, status
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.engine import Engine
from starlette.concurrency import run_in_threadpool

from linetrace.central.audit import record
from linetrace.central.auth.accounts import AccountError, check_login, set_password
from linetrace.central.auth.guard import (
    SESSION_COOKIE,
    auth_settings,
    check_csrf,
    form_fields,
    public,
    session_state,
)
from linetrace.central.auth.passwords import MIN_PASSWORD_LENGTH
from linetrace.central.auth.ratelimit import LoginLimiter
from linetrace.central.auth.sessions import end_session, start_session
from linetrace.central.web.pages import safe_next
from linetrace.central.web.render import gettext_for, render_page

__all__ = ["router"]

router = APIRouter(tags=["web"], include_in_schema=False, dependencies=[public()])


def _limiter(request: Request) -> LoginLimiter:
    limiter: LoginLimiter | None = getattr(request.app.state, "login_limiter", None)
    if limiter is None:
        settings = auth_settings(request)
        limiter = LoginLimiter(settings.login_failures, settings.login_window_s)
        request.app.state.login_limiter = limiter
    return limiter


def _login_page(
    request: Request, next_path: str, *, error: str = "", username: str = "", code: int = 200
) -> HTMLResponse:
    _ = gettext_for(request)
    return render_page(
        request,
        "login.html",
        title=_("Sign in"),
        styles=["login.css"],
        status_code=code,
        next_path=next_path,
        error=error,
        username=username,
    )


@router.get("/login", response_class=HTMLResponse)
async def login_page(request: Request, next: str | None = None) -> Response:
    target = safe_next(next)
    if await session_state(request) is not None:
        return RedirectResponse(target, status.HTTP_303_SEE_OTHER)
    return _login_page(request, target)


@router.post("/login", response_class=HTMLResponse)
async def login(request: Request) -> Response:
    form = await form_fields(request)
    name = form.get("username", "").strip()[:64]
    password = form.get("password", "")[:1024]
    target = safe_next(form.get("next"))
    _ = gettext_for(request)
    address = request.client.host if request.client else "unknown"
    keys = (f"user:{name}", f"addr:{address}")
    limiter = _limiter(request)
    wait = limiter.retry_after(*keys)
    if wait:
        text = _("Too many failed sign-ins. Try again in {seconds} s.").format(seconds=wait)
        page = _login_page(request, target, error=text, username=name, code=429)
        page.headers["Retry-After"] = str(wait)
        return page
    engine: Engine = request.app.state.engine
    max_age = timedelta(days=auth_settings(request).session_max_days)
    outcome = await run_in_threadpool(_try_login, engine, name, password, address, max_age)
    if outcome is None:
        limiter.failed(*keys)
        text = _("Wrong user name or password.")
        return _login_page(request, target, error=text, username=name, code=401)
    limiter.forget(keys[0])
    secret, must_change = outcome
    where = f"/login/password?next={quote(target, safe='/')}" if must_change else target
    response = RedirectResponse(where, status.HTTP_303_SEE_OTHER)
    response.set_cookie(
        SESSION_COOKIE,
        secret,
        max_age=int(max_age.total_seconds()),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
        path="/",
    )
    return response


def _try_login(
    engine: Engine, name: str, password: str, address: str, max_age: timedelta
) -> tuple[str, bool] | None:
    """(the session's secret, must change password), or None; audited either way."""
    with engine.begin() as connection:
        account = check_login(connection, name, password) if name else None
        if account is None:
            record(
                connection,
                actor="anonymous",
                action="login.failed",
                target=f"user:{name}",
                details={"address": address},
            )
            return None
        secret, _csrf = start_session(connection, account.name, max_age=max_age)
        record(
            connection,
            actor=account.name,
            action="login",
            target=f"user:{account.name}",
            details={"address": address},
        )
        return secret, account.must_change_password


@router.post("/logout")
async def logout(request: Request) -> Response:
    session = await session_state(request)
    if session is not None:
        await check_csrf(request, session)
        engine: Engine = request.app.state.engine
        secret = request.cookies.get(SESSION_COOKIE, "")
        await run_in_threadpool(_end, engine, secret, session.principal.name)
    response = RedirectResponse("/login", status.HTTP_303_SEE_OTHER)
    response.delete_cookie(SESSION_COOKIE, path="/", httponly=True, samesite="strict")
    return response


def _end(engine: Engine, secret: str, name: str) -> None:
    with engine.begin() as connection:
        end_session(connection, secret)
        record(connection, actor=name, action="logout", target=f"user:{name}")


def _password_page(
    request: Request, next_path: str, must_change: bool, *, error: str = "", code: int = 200
) -> HTMLResponse:
    _ = gettext_for(request)
    return render_page(
        request,
        "password.html",
        title=_("Change password"),
        styles=["login.css"],
        status_code=code,
        next_path=next_path,
        must_change=must_change,
        error=error,
        min_length=MIN_PASSWORD_LENGTH,
    )


@router.get("/login/password", response_class=HTMLResponse)
async def password_page(request: Request, next: str | None = None) -> Response:
    session = await session_state(request)
    if session is None:
        return RedirectResponse("/login?next=/login/password", status.HTTP_303_SEE_OTHER)
    _signed_in(request, session)
    return _password_page(request, safe_next(next), session.must_change_password)


@router.post("/login/password", response_class=HTMLResponse)
async def change_password(request: Request) -> Response:
    session = await session_state(request)
    if session is None:
        return RedirectResponse("/login?next=/login/password", status.HTTP_303_SEE_OTHER)
    await check_csrf(request, session)
    _signed_in(request, session)
    form = await form_fields(request)
    target = safe_next(form.get("next"))
    _ = gettext_for(request)
    if form.get("new", "") != form.get("again", ""):
        text = _("The two new passwords differ.")
        return _password_page(request, target, session.must_change_password, error=text, code=422)
    engine: Engine = request.app.state.engine
    name = session.principal.name
    try:
        changed = await run_in_threadpool(
            _change, engine, name, form.get("current", ""), form.get("new", "")
        )
    except AccountError:
        text = _("A password needs at least {count} characters.").format(count=MIN_PASSWORD_LENGTH)
        return _password_page(request, target, session.must_change_password, error=text, code=422)
    if not changed:
        text = _("The current password is wrong.")
        return _password_page(request, target, session.must_change_password, error=text, code=403)
    return RedirectResponse(target, status.HTTP_303_SEE_OTHER)


def _change(engine: Engine, name: str, current: str, new: str) -> bool:
    with engine.begin() as connection:
        if check_login(connection, name, current) is None:
            return False
        set_password(connection, name, new)
        record(connection, actor=name, action="user.password", target=f"user:{name}")
        return True


def _signed_in(request: Request, session: Any) -> None:
    """Let the page show who is signed in and carry the session's CSRF token."""
    request.state.principal = session.principal
    request.state.csrf_token = session.csrf_token
