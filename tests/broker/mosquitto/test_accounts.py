"""Station and service accounts: credentials, their private files, the plugin's hashes."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import (
    BrokerDir,
    BrokerError,
    Credentials,
    Role,
    add_service,
    add_station,
    init_broker,
    list_credentials,
)
from linetrace.broker.mosquitto.dynsec import password_fields, verify_password

STATION = StationId("hcm", "line1", "st1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def plugin_client(directory: Path, username: str) -> dict[str, Any]:
    """The account as the dynamic security plugin's file holds it."""
    config = json.loads(BrokerDir(directory.resolve()).security.read_text())
    [client] = [c for c in config["clients"] if c["username"] == username]
    return dict(client)


def test_add_station_is_idempotent_and_rotate_replaces_the_password(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    first = add_station(tmp_path, STATION)
    assert first.username == "hcm/line1/st1"
    assert first.role is Role.STATION
    assert len(first.password) >= 40
    assert add_station(tmp_path, STATION) == first
    rotated = add_station(tmp_path, STATION, rotate=True)
    assert rotated.password != first.password
    client = plugin_client(broker.path, "hcm/line1/st1")
    assert verify_password(rotated.password, client)
    assert not verify_password(first.password, client)
    assert client["roles"] == [{"rolename": "station:hcm/line1/st1"}]


def test_credentials_are_stored_privately_one_file_per_user(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    stored = broker.credentials / "stations" / "hcm" / "line1" / "st1.json"
    assert Credentials.model_validate_json(stored.read_text()) == credentials
    assert mode(stored) == 0o600
    assert mode(stored.parent) == 0o700


def test_station_ids_that_differ_only_in_where_the_dot_is_do_not_share_a_file(
    tmp_path: Path,
) -> None:
    init_broker(tmp_path)
    one = add_station(tmp_path, StationId("a.b", "c", "d"))
    other = add_station(tmp_path, StationId("a", "b.c", "d"))
    assert one.password != other.password
    assert {c.username for c in list_credentials(tmp_path)} == {"a.b/c/d", "a/b.c/d"}


def test_a_lost_security_file_is_rebuilt_from_the_credential_store(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    broker.security.unlink()
    init_broker(tmp_path)
    assert verify_password(credentials.password, plugin_client(tmp_path, "hcm/line1/st1"))
    assert mode(broker.security) == 0o600
    assert mode(broker.security.parent) == 0o700


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("a/b/c", "central", "not valid"),
        ("+", "central", "not valid"),
        ("", "central", "not valid"),
        ("central", "root", "unknown role"),
        ("boss", "admin", "made by init"),
        ("central", "station", "add_station"),
    ],
)
def test_add_service_refuses_names_and_roles_that_could_widen_access(
    tmp_path: Path, name: str, role: str, message: str
) -> None:
    init_broker(tmp_path)
    with pytest.raises(BrokerError, match=message):
        add_service(tmp_path, name, role)


def test_adding_a_user_needs_an_initialised_directory(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="broker init"):
        add_station(tmp_path, STATION)


def test_service_role_can_change_without_a_new_password(tmp_path: Path) -> None:
    init_broker(tmp_path)
    central = add_service(tmp_path, "dash")
    monitor = add_service(tmp_path, "dash", "monitor")
    assert (monitor.password, monitor.role) == (central.password, Role.MONITOR)
    assert plugin_client(tmp_path, "dash")["roles"] == [{"rolename": "monitor"}]


def test_password_hash_has_the_plugins_format_and_verifies() -> None:
    fields = password_fields("s3cret", salt=bytes(range(12)))
    assert (fields["salt"], fields["iterations"]) == ("AAECAwQFBgcICQoL", 101)
    assert verify_password("s3cret", fields)
    assert not verify_password("s3cret!", fields)
    assert not verify_password("s3cret", {"salt": "abc", "password": "def", "iterations": 1})
    assert not verify_password("s3cret", {"salt": "not base64", "password": "x"})
    with pytest.raises(ValueError, match="12-byte salt"):
        password_fields("x", salt=b"short")


def test_hashes_from_mosquitto_passwd_verify(
    tmp_path: Path, require: Callable[[bool, str], None]
) -> None:
    tool = shutil.which("mosquitto_passwd")
    require(tool is not None, "mosquitto_passwd is not installed (apt-get install mosquitto)")
    assert tool is not None
    password_file = tmp_path / "pw"
    password_file.touch(mode=0o600)
    subprocess.run([tool, "-b", str(password_file), "alice", "open sesame"], check=True)
    # Mosquitto's own PBKDF2-SHA512 ($7$ROUNDS$SALT$HASH) is the plugin's, field by field.
    _, _, rounds, salt, digest = password_file.read_text().strip().split("$")
    fields = {"salt": salt, "password": digest, "iterations": int(rounds)}
    assert verify_password("open sesame", fields)
    assert not verify_password("open sesame ", fields)


def test_credentials_print_as_json_scripts_can_read(tmp_path: Path) -> None:
    init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    assert json.loads(credentials.model_dump_json()) == {
        "username": "hcm/line1/st1",
        "password": credentials.password,
        "role": "station",
    }
