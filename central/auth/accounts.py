"""People's accounts: add, list, disable, change a password, check one at login.

Every function takes the caller's connection, so an account change and its audit record
commit together.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from linetrace.central.auth.passwords import (
    MIN_PASSWORD_LENGTH,
    hash_password,
    needs_rehash,
    verify_nothing,
    verify_password,
)
from linetrace.central.auth.principal import Principal, Scope, parse_scopes
from linetrace.central.auth.roles import Role
from linetrace.central.store.auth_tables import users
from linetrace.errors import LinetraceError

__all__ = [
    "Account",
    "AccountError",
    "add_user",
    "any_user",
    "check_login",
    "disable_user",
    "get_user",
    "list_users",
    "principal_of",
    "set_language",
    "set_password",
    "valid_name",
]

_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")


class AccountError(LinetraceError, ValueError):
    """An account that cannot be made or changed as asked (name taken, weak password)."""


@dataclass(frozen=True)
class Account:
    name: str
    role: Role
    scopes: tuple[Scope, ...]
    language: str | None
    disabled: bool
    must_change_password: bool
    created_at: datetime
    password_changed_at: datetime


def valid_name(name: str) -> str:
    if _NAME.fullmatch(name) is None:
        raise AccountError(
            f"name {name!r}: 1 to 64 letters, digits, '.', '_', '@' or '-', not starting with "
            "a sign"
        )
    return name


def _strong(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise AccountError(f"a password needs at least {MIN_PASSWORD_LENGTH} characters")
    return password


def _account(row: Any) -> Account:
    return Account(
        name=row.name,
        role=Role(row.role),
        scopes=parse_scopes(list(row.scopes or [])),
        language=row.language,
        disabled=bool(row.disabled),
        must_change_password=bool(row.must_change_password),
        created_at=row.created_at,
        password_changed_at=row.password_changed_at,
    )


def principal_of(account: Account, *, via: str = "session") -> Principal:
    return Principal(
        name=account.name,
        role=account.role,
        scopes=account.scopes,
        via="session" if via == "session" else "token",
        language=account.language,
    )


def add_user(
    connection: Connection,
    name: str,
    *,
    role: Role,
    password: str,
    scopes: tuple[Scope, ...] = (),
    must_change_password: bool = True,
) -> Account:
    valid_name(name)
    _strong(password)
    if get_user(connection, name) is not None:
        raise AccountError(f"user {name!r} exists")
    now = datetime.now(UTC)
    connection.execute(
        users.insert().values(
            name=name,
            password_hash=hash_password(password),
            role=role.value,
            scopes=[str(scope) for scope in scopes],
            language=None,
            disabled=False,
            must_change_password=must_change_password,
            created_at=now,
            password_changed_at=now,
        )
    )
    account = get_user(connection, name)
    if account is None:  # pragma: no cover - the insert above would have raised
        raise AccountError(f"user {name!r} was not stored")
    return account


def get_user(connection: Connection, name: str) -> Account | None:
    row = connection.execute(sa.select(users).where(users.c.name == name)).first()
    return None if row is None else _account(row)


def list_users(connection: Connection) -> list[Account]:
    return [_account(row) for row in connection.execute(sa.select(users).order_by(users.c.name))]


def any_user(connection: Connection) -> bool:
    return connection.execute(sa.select(users.c.name).limit(1)).first() is not None


def disable_user(connection: Connection, name: str) -> bool:
    """Disable the account and end its sessions; False if there is no such account."""
    from linetrace.central.store.auth_tables import web_sessions

    done = connection.execute(users.update().where(users.c.name == name).values(disabled=True))
    connection.execute(web_sessions.delete().where(web_sessions.c.user_name == name))
    return done.rowcount > 0


def set_password(
    connection: Connection, name: str, password: str, *, must_change: bool = False
) -> bool:
    _strong(password)
    done = connection.execute(
        users.update()
        .where(users.c.name == name)
        .values(
            password_hash=hash_password(password),
            must_change_password=must_change,
            password_changed_at=datetime.now(UTC),
        )
    )
    return done.rowcount > 0


def set_language(connection: Connection, name: str, language: str | None) -> None:
    connection.execute(users.update().where(users.c.name == name).values(language=language))


def check_login(connection: Connection, name: str, password: str) -> Account | None:
    """The account if ``password`` is its password and it is enabled, else None.

    An unknown name costs one verification too, so timing does not reveal names.
    """
    row = connection.execute(sa.select(users).where(users.c.name == name)).first()
    if row is None:
        verify_nothing(password)
        return None
    if not verify_password(row.password_hash, password) or row.disabled:
        return None
    if needs_rehash(row.password_hash):
        connection.execute(
            users.update().where(users.c.name == name).values(password_hash=hash_password(password))
        )
    return _account(row)
