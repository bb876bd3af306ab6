"""Accounts, tokens and sessions as stored, on SQLite and PostgreSQL."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.auth import Role, Scope
from linetrace.central.auth.accounts import (
    AccountError,
    add_user,
    check_login,
    disable_user,
    list_users,
    set_password,
)
from linetrace.central.auth.sessions import end_session, find_session, start_session
from linetrace.central.auth.tokens import (
    create_token,
    list_tokens,
    principal_for_token,
    revoke_token,
    sha256_hex,
)
from linetrace.central.store.auth_tables import api_tokens, users, web_sessions

PASSWORD = "a good long password"
IDLE = timedelta(hours=8)


def test_accounts_store_a_hash_and_check_logins(engine: Engine) -> None:
    with engine.begin() as connection:
        add_user(
            connection, "ana", role=Role.OPERATOR, password=PASSWORD, scopes=(Scope("hcm1", "L1"),)
        )
        stored = connection.execute(sa.select(users.c.password_hash)).scalar_one()
        assert PASSWORD not in stored
        assert stored.startswith("$argon2id$")
        account = check_login(connection, "ana", PASSWORD)
        assert account is not None
        assert account.scopes == (Scope("hcm1", "L1"),)
        assert account.must_change_password
        assert check_login(connection, "ana", "wrong password!") is None
        assert check_login(connection, "nobody", PASSWORD) is None
        with pytest.raises(AccountError):
            add_user(connection, "ana", role=Role.ADMIN, password=PASSWORD)
        with pytest.raises(AccountError):
            add_user(connection, "bao", role=Role.ADMIN, password="short")
        with pytest.raises(AccountError):
            add_user(connection, "bad name", role=Role.ADMIN, password=PASSWORD)
        assert set_password(connection, "ana", "another long password")
        assert check_login(connection, "ana", "another long password") is not None
        assert disable_user(connection, "ana")
        assert check_login(connection, "ana", "another long password") is None
        assert [a.name for a in list_users(connection)] == ["ana"]


def test_tokens_are_stored_hashed_and_end(engine: Engine) -> None:
    with engine.begin() as connection:
        secret = create_token(
            connection, "erp", role=Role.AUDITOR, created_by="ana", scopes=(Scope("hcm1"),)
        )
        assert secret.startswith("lt_")
        row = connection.execute(sa.select(api_tokens)).one()
        assert row.token_sha256 == sha256_hex(secret)
        assert secret not in str(tuple(row))
        principal = principal_for_token(connection, secret)
        assert principal is not None
        assert (principal.name, principal.role, principal.via) == (
            "token:erp",
            Role.AUDITOR,
            "token",
        )
        assert principal.scopes == (Scope("hcm1"),)
        assert connection.execute(sa.select(api_tokens.c.last_used_at)).scalar_one() is not None
        assert principal_for_token(connection, secret + "x") is None
        assert principal_for_token(connection, "Bearer-less") is None
        assert revoke_token(connection, "erp")
        assert not revoke_token(connection, "erp")
        assert principal_for_token(connection, secret) is None
        assert list_tokens(connection)[0].revoked_at is not None
        old = create_token(connection, "old", role=Role.ADMIN, created_by="ana", expires_days=1)
        connection.execute(
            api_tokens.update()
            .where(api_tokens.c.name == "old")
            .values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert principal_for_token(connection, old) is None


def test_sessions_end_at_logout_idle_and_absolute_expiry(engine: Engine) -> None:
    with engine.begin() as connection:
        add_user(connection, "ana", role=Role.ADMIN, password=PASSWORD, must_change_password=False)
        secret, csrf = start_session(connection, "ana", max_age=timedelta(days=7))
        assert connection.execute(sa.select(web_sessions.c.id_sha256)).scalar_one() != secret
        state = find_session(connection, secret, idle=IDLE)
        assert state is not None
        assert state.csrf_token == csrf
        assert state.principal.name == "ana"
        assert state.principal.via == "session"
        assert find_session(connection, "forged", idle=IDLE) is None
        end_session(connection, secret)
        assert find_session(connection, secret, idle=IDLE) is None

        idle, _ = start_session(connection, "ana", max_age=timedelta(days=7))
        connection.execute(
            web_sessions.update().values(last_seen_at=datetime.now(UTC) - IDLE - timedelta(1))
        )
        assert find_session(connection, idle, idle=IDLE) is None

        old, _ = start_session(connection, "ana", max_age=timedelta(days=7))
        connection.execute(
            web_sessions.update().values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        assert find_session(connection, old, idle=IDLE) is None

        live, _ = start_session(connection, "ana", max_age=timedelta(days=7))
        disable_user(connection, "ana")
        assert find_session(connection, live, idle=IDLE) is None
