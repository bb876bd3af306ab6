"""Broker accounts: a login per station and per service, and their password hashes.

Passwords are random secrets made here and kept in the broker directory's credential
store; Mosquitto gets only their ``$7$`` hashes. Adding or rotating an account rewrites
the password file and the ACL under the directory's lock.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
from pathlib import Path

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.directory import (
    BrokerDir,
    Credentials,
    Role,
    locked,
    read_credentials,
    write_acl,
    write_private,
)
from linetrace.errors import BrokerError

__all__ = ["add_service", "add_station", "hash_password", "verify_password"]

logger = logging.getLogger(__name__)

# Passwords are 256-bit random secrets, so key stretching adds nothing against guessing;
# 101 rounds is what mosquitto_passwd writes and keeps every CONNECT cheap.
PBKDF2_ITERATIONS = 101

PASSWORD_BYTES = 32

SALT_BYTES = 12  # Mosquitto refuses any other salt length for $7$ hashes.

HASH_BYTES = 64  # SHA-512 output, the only length Mosquitto accepts.

_SERVICE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def add_station(directory: Path, station: StationId, *, rotate: bool = False) -> Credentials:
    """The credentials of ``station``, created on first use (or replaced when ``rotate``)."""
    return _add_user(BrokerDir(directory.resolve()), station.username, Role.STATION, rotate)


def add_service(
    directory: Path, name: str, role: str = Role.CENTRAL, *, rotate: bool = False
) -> Credentials:
    """The credentials of a service user; re-adding with another role changes the role."""
    if not _SERVICE_NAME.match(name):
        raise BrokerError(
            f"service name {name!r} is not valid: use 1-64 letters, digits, '-', '_' or '.', "
            "starting with a letter or digit"
        )
    try:
        service_role = Role(role)
    except ValueError:
        raise BrokerError(f"unknown role {role!r}: use central or monitor") from None
    if service_role is Role.STATION:
        raise BrokerError("a station is added with add_station, under its SITE/LINE/STATION id")
    return _add_user(BrokerDir(directory.resolve()), name, service_role, rotate)


def _add_user(broker: BrokerDir, username: str, role: Role, rotate: bool) -> Credentials:
    if not broker.conf.exists():
        raise BrokerError(f"{broker.path} is not a broker directory: run `linetrace broker init`")
    path = broker.credential_file(username, role)
    with locked(broker):
        existing = read_credentials(path) if path.exists() else None
        if existing is None or rotate:
            credentials = Credentials(
                username=username, password=secrets.token_urlsafe(PASSWORD_BYTES), role=role
            )
            logger.info("new password for %s user %s", role, username)
        else:
            credentials = existing.model_copy(update={"role": role})
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        if credentials != existing:
            write_private(path, credentials.model_dump_json(indent=2) + "\n")
        _set_password(broker.passwords, credentials)
        write_acl(broker)
    return credentials


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """The Mosquitto 2 ``$7$`` line value: PBKDF2-HMAC-SHA512, 12-byte salt, base64."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"Mosquitto needs a {SALT_BYTES}-byte salt, not {len(salt)}")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES)
    return (
        f"$7${PBKDF2_ITERATIONS}${base64.b64encode(salt).decode()}"
        f"${base64.b64encode(digest).decode()}"
    )


def verify_password(password: str, encoded: str) -> bool:
    """Whether ``encoded`` (a ``$7$`` value) is the hash of ``password``."""
    parts = encoded.split("$")
    if len(parts) != 5 or parts[:2] != ["", "7"] or not parts[2].isdigit():
        return False
    try:
        salt = base64.b64decode(parts[3], validate=True)
        expected = base64.b64decode(parts[4], validate=True)
    except ValueError:
        return False
    if len(salt) != SALT_BYTES or len(expected) != HASH_BYTES:
        return False
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, int(parts[2]), HASH_BYTES)
    return hmac.compare_digest(actual, expected)


def _set_password(path: Path, credentials: Credentials) -> None:
    """Make the password file hold ``credentials``; other users' lines stay untouched."""
    lines = path.read_text().splitlines() if path.exists() else []
    prefix = credentials.username + ":"
    current = [line for line in lines if line.startswith(prefix)]
    if len(current) == 1 and verify_password(credentials.password, current[0][len(prefix) :]):
        return
    kept = [line for line in lines if not line.startswith(prefix)]
    kept.append(prefix + hash_password(credentials.password))
    write_private(path, "\n".join(kept) + "\n")
