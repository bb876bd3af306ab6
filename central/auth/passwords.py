"""Password hashing (argon2id through argon2-cffi) and generated one-time passwords.

argon2-cffi's defaults follow RFC 9106's second recommended option; a hash made with
older parameters is upgraded at the next successful login (:func:`needs_rehash`).
"""

from __future__ import annotations

import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

__all__ = [
    "MIN_PASSWORD_LENGTH",
    "generate_password",
    "hash_password",
    "needs_rehash",
    "verify_nothing",
    "verify_password",
]

# NIST SP 800-63B: at least 8 characters; 10 because these accounts change production.
MIN_PASSWORD_LENGTH = 10
_HASHER = PasswordHasher()
# Verified when the account does not exist, so an unknown name costs as much time as a
# wrong password and the answer's timing does not tell which names exist.
_DUMMY_HASH = _HASHER.hash(secrets.token_urlsafe(16))


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def verify_password(encoded: str, password: str) -> bool:
    try:
        return _HASHER.verify(encoded, password)
    except (VerifyMismatchError, VerificationError, InvalidHashError):
        return False


def verify_nothing(password: str) -> None:
    """Spend a verification's time on no account (see ``_DUMMY_HASH``)."""
    verify_password(_DUMMY_HASH, password)


def needs_rehash(encoded: str) -> bool:
    return _HASHER.check_needs_rehash(encoded)


def generate_password() -> str:
    """A one-time password: 20 URL-safe characters, about 120 random bits."""
    return secrets.token_urlsafe(15)
