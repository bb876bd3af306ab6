"""Station and service accounts: credentials, their private files, password hashes."""

from __future__ import annotations

import json
import shutil
import stat
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import (
    BrokerDir,
    BrokerError,
    Credentials,
    Role,
    add_service,
    add_station,
    hash_password,
    init_broker,
    list_credentials,
    verify_password,
)

STATION = StationId("hcm", "line1", "st1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def test_add_station_is_idempotent_and_rotate_replaces_the_password(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    first = add_station(tmp_path, STATION)
    assert first.username == "hcm/line1/st1"
    assert first.role is Role.STATION
    assert len(first.password) >= 40
    assert add_station(tmp_path, STATION) == first
    rotated = add_station(tmp_path, STATION, rotate=True)
    assert rotated.password != first.password
    lines = broker.passwords.read_text().splitlines()
    assert len(lines) == 1
    assert verify_password(rotated.password, lines[0].split(":", 1)[1])


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


def test_a_lost_password_line_is_restored_with_the_same_password(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    broker.passwords.write_text("someone:$7$101$abc$def\n")
    assert add_station(tmp_path, STATION) == credentials
    lines = broker.passwords.read_text().splitlines()
    assert lines[0] == "someone:$7$101$abc$def"  # a user added by hand stays
    assert verify_password(credentials.password, lines[1].removeprefix("hcm/line1/st1:"))


@pytest.mark.parametrize(
    ("name", "role", "message"),
    [
        ("a/b/c", "central", "not valid"),
        ("+", "central", "not valid"),
        ("", "central", "not valid"),
        ("central", "admin", "unknown role"),
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
    assert "user dash\ntopic read linetrace/v1/#" in BrokerDir(tmp_path).acl.read_text()


def test_password_hash_has_mosquittos_format_and_verifies() -> None:
    encoded = hash_password("s3cret", salt=bytes(range(12)))
    assert encoded.startswith("$7$101$AAECAwQFBgcICQoL$")
    assert verify_password("s3cret", encoded)
    assert not verify_password("s3cret!", encoded)
    assert not verify_password("s3cret", "$6$abc$def")
    assert not verify_password("s3cret", "$7$101$not base64$x")
    with pytest.raises(ValueError, match="12-byte salt"):
        hash_password("x", salt=b"short")


def test_hashes_from_mosquitto_passwd_verify(
    tmp_path: Path, require: Callable[[bool, str], None]
) -> None:
    tool = shutil.which("mosquitto_passwd")
    require(tool is not None, "mosquitto_passwd is not installed (apt-get install mosquitto)")
    assert tool is not None
    password_file = tmp_path / "pw"
    password_file.touch(mode=0o600)
    subprocess.run([tool, "-b", str(password_file), "alice", "open sesame"], check=True)
    encoded = password_file.read_text().strip().removeprefix("alice:")
    assert verify_password("open sesame", encoded)
    assert not verify_password("open sesame ", encoded)


def test_credentials_print_as_json_scripts_can_read(tmp_path: Path) -> None:
    init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    assert json.loads(credentials.model_dump_json()) == {
        "username": "hcm/line1/st1",
        "password": credentials.password,
        "role": "station",
    }
