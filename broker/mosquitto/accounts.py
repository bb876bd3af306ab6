"""Broker accounts: a login per station and per service, and their password hashes.

Passwords are random secrets made here and kept in the broker directory's credential
store; Mosquitto gets only their PBKDF2-SHA512 hashes, in its dynamic security plugin's
file. Adding or rotating an account rewrites that file under the directory's lock and,
when the broker runs, applies the change through the plugin (it is in force on return).
"""

from __future__ import annotations

import logging
import re
import secrets
from pathlib import Path

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import dynsec
from linetrace.broker.mosquitto.directory import (
    BRIDGE_USER_PREFIX,
    BrokerDir,
    Credentials,
    Role,
    admin_credentials,
    locked,
    plugin_client,
    read_credentials,
    role_acls,
    write_private,
    write_security,
)
from linetrace.broker.mosquitto.process import running_pid
from linetrace.errors import BrokerError

__all__ = ["add_service", "add_station", "broker_address"]

logger = logging.getLogger(__name__)

PASSWORD_BYTES = 32

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
    if service_role is Role.ADMIN:
        raise BrokerError("the admin account is made by init and is never handed out")
    site = name.removeprefix(BRIDGE_USER_PREFIX)
    if service_role is Role.BRIDGE and (site == name or not _SERVICE_NAME.match(site)):
        raise BrokerError(f"a bridge user is named {BRIDGE_USER_PREFIX}SITE, not {name!r}")
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
        write_security(broker)
        _apply_running(broker, existing, credentials)
    return credentials


def _apply_running(broker: BrokerDir, old: Credentials | None, new: Credentials) -> None:
    """Bring a running broker up to date (the plugin reads its file only at start)."""
    commands = dynsec.change_commands(
        plugin_client(old) if old is not None else None, plugin_client(new), role_acls(new)
    )
    if not commands or running_pid(broker.path) is None:
        return
    host, port = broker_address(broker.path)
    admin = plugin_client(admin_credentials(broker))
    dynsec.send_commands(host, port, admin, commands)
    logger.info("the running broker took the change to %s", new.username)


def broker_address(directory: Path) -> tuple[str, int]:
    """Where a process on this host reaches the broker: its plain listener."""
    conf = BrokerDir(directory.resolve()).conf
    for line in conf.read_text().splitlines():
        if line.startswith("listener "):
            _, port, bind = line.split()
            wildcard = {"0.0.0.0": "127.0.0.1", "::": "::1"}  # noqa: S104 - read, not bound
            return wildcard.get(bind, bind), int(port)
    raise BrokerError(f"{conf} has no listener: run `linetrace broker init` again")
