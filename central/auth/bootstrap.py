"""The first admin: made at ``central migrate`` or the first ``central run`` when there is
no account at all, with a one-time password printed once (the login page then asks for a
new one). Without it a fresh install would have no way in but the CLI.
"""

from __future__ import annotations

from sqlalchemy.engine import Engine
from sqlalchemy.exc import IntegrityError

from linetrace.central.audit import record
from linetrace.central.auth.accounts import AccountError, add_user, any_user
from linetrace.central.auth.passwords import generate_password
from linetrace.central.auth.roles import Role

__all__ = ["FIRST_ADMIN", "ensure_first_admin"]

FIRST_ADMIN = "admin"


def ensure_first_admin(engine: Engine) -> str | None:
    """Create ``admin`` if no account exists; its one-time password, or None if not made."""
    password = generate_password()
    try:
        with engine.begin() as connection:
            if any_user(connection):
                return None
            add_user(connection, FIRST_ADMIN, role=Role.ADMIN, password=password)
            record(
                connection,
                actor="system",
                action="user.add",
                target=f"user:{FIRST_ADMIN}",
                details={"role": "admin", "scopes": [], "first_admin": True},
            )
    except (IntegrityError, AccountError):
        return None  # another central instance, starting at the same time, made it
    return password
