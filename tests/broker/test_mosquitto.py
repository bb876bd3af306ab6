"""The broker directory: generated files, credentials, password hashes, running Mosquitto."""

from __future__ import annotations

import json
import os
import shutil
import signal
import stat
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from linetrace.broker import mosquitto
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import (
    BrokerDir,
    BrokerError,
    Credentials,
    MosquittoNotFoundError,
    Role,
    TlsFiles,
    add_service,
    add_station,
    broker_command,
    find_mosquitto,
    hash_password,
    init_broker,
    list_credentials,
    reload_running,
    render_acl,
    running_pid,
    verify_password,
)
from tests.broker.mqtt_probe import ACCEPTED, SUCCESS, Probe
from tests.conftest import Broker, free_port

STATION = StationId("hcm", "line1", "st1")


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def conf_settings(broker: BrokerDir) -> dict[str, list[str]]:
    settings: dict[str, list[str]] = {}
    for line in broker.conf.read_text().splitlines():
        if line and not line.startswith("#"):
            key, _, value = line.partition(" ")
            settings.setdefault(key, []).append(value)
    return settings


def test_init_writes_a_locked_down_config(tmp_path: Path) -> None:
    broker = init_broker(tmp_path / "b", port=2883, bind="127.0.0.1")
    settings = conf_settings(broker)
    assert settings["allow_anonymous"] == ["false"]
    assert settings["per_listener_settings"] == ["false"]
    assert settings["password_file"] == [str(broker.passwords)]
    assert settings["acl_file"] == [str(broker.acl)]
    assert settings["persistence"] == ["true"]
    assert settings["persistence_location"] == [str(broker.data)]
    assert settings["max_packet_size"] == [str(mosquitto.MAX_PACKET_KIB * 1024)]
    assert settings["max_queued_messages"] == [str(mosquitto.MAX_QUEUED_MESSAGES)]
    assert settings["persistent_client_expiration"] == ["14d"]
    assert settings["listener"] == ["2883 127.0.0.1"]
    assert "cafile" not in settings
    assert broker.passwords.read_text() == ""
    assert mode(broker.passwords) == 0o600
    assert mode(broker.acl) == 0o600
    assert mode(broker.credentials) == 0o700


def test_init_with_tls_adds_a_second_listener(tmp_path: Path) -> None:
    files = {name: tmp_path / f"{name}.pem" for name in ("ca", "cert", "key")}
    for path in files.values():
        path.write_text("pem")
    tls = TlsFiles(**files, port=9883, bind="10.0.0.5", require_certificate=True)
    settings = conf_settings(init_broker(tmp_path / "b", tls=tls))
    assert settings["listener"] == ["1883 127.0.0.1", "9883 10.0.0.5"]
    assert settings["cafile"] == [str(files["ca"].resolve())]
    assert settings["keyfile"] == [str(files["key"].resolve())]
    assert settings["require_certificate"] == ["true"]


def test_init_refuses_missing_tls_files_and_bad_ports(tmp_path: Path) -> None:
    missing = TlsFiles(ca=tmp_path / "ca", cert=tmp_path / "c", key=tmp_path / "k")
    with pytest.raises(BrokerError, match=r"TLS ca file .* does not exist"):
        init_broker(tmp_path / "b", tls=missing)
    with pytest.raises(BrokerError, match="not a TCP port"):
        init_broker(tmp_path / "b", port=70000)
    with pytest.raises(BrokerError, match="port of its own"):
        init_broker(
            tmp_path / "b", port=8883, tls=TlsFiles(ca=tmp_path, cert=tmp_path, key=tmp_path)
        )


def test_reinit_keeps_every_credential(tmp_path: Path) -> None:
    directory = tmp_path / "b"
    init_broker(directory)
    station = add_station(directory, STATION)
    central = add_service(directory, "central")
    passwords = BrokerDir(directory).passwords.read_text()
    init_broker(directory, port=2884)
    assert BrokerDir(directory).passwords.read_text() == passwords
    assert add_station(directory, STATION) == station
    assert add_service(directory, "central") == central
    assert "user central" in BrokerDir(directory).acl.read_text()


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


def test_acl_gives_stations_their_own_levels_and_services_their_role() -> None:
    services = [
        Credentials(username="central", password="p", role=Role.CENTRAL),
        Credentials(username="dash", password="p", role=Role.MONITOR),
    ]
    lines = render_acl(services).splitlines()
    assert [line for line in lines if line.startswith("pattern")] == [
        "pattern write linetrace/v1/%u/events",
        "pattern write linetrace/v1/%u/status",
        "pattern read linetrace/v1/%u/batch",
        "pattern read linetrace/v1/%u/ack",
    ]
    central = lines[lines.index("user central") + 1 : lines.index("user central") + 5]
    assert central == [
        "topic read linetrace/v1/+/+/+/events",
        "topic read linetrace/v1/+/+/+/status",
        "topic readwrite linetrace/v1/+/+/+/batch",
        "topic readwrite linetrace/v1/+/+/+/ack",
    ]
    assert lines[lines.index("user dash") + 1] == "topic read linetrace/v1/#"


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


def test_missing_mosquitto_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(mosquitto.process, "SBIN_DIRS", ())
    with pytest.raises(MosquittoNotFoundError, match="apt-get install -y mosquitto"):
        find_mosquitto()


def test_broker_command_needs_an_initialised_directory(tmp_path: Path) -> None:
    with pytest.raises(BrokerError, match="broker init"):
        broker_command(tmp_path)


def test_a_stale_pid_file_is_not_signalled(tmp_path: Path) -> None:
    broker = init_broker(tmp_path)
    assert running_pid(tmp_path) is None
    broker.pid_file.write_text(str(os.getpid()))  # alive, but not this broker
    assert running_pid(tmp_path) is None
    finished = subprocess.Popen(["true"])
    finished.wait()
    broker.pid_file.write_text(str(finished.pid))  # gone: Mosquitto leaves its pid file
    assert running_pid(tmp_path) is None
    broker.pid_file.write_text("not a pid")
    assert running_pid(tmp_path) is None
    assert reload_running(tmp_path) is False


def test_running_broker_is_found_and_reloaded_through_its_pid_file(mqtt_broker: Broker) -> None:
    assert running_pid(mqtt_broker.directory) == mqtt_broker.pid
    credentials = add_station(mqtt_broker.directory, STATION)
    assert reload_running(mqtt_broker.directory)
    deadline = time.monotonic() + 5
    while True:
        with Probe(mqtt_broker.host, mqtt_broker.port, credentials) as station:
            if station.connect() == SUCCESS:
                break
        assert time.monotonic() < deadline, "the reloaded broker never accepted the station"
        time.sleep(0.05)


def test_run_broker_becomes_mosquitto(tmp_path: Path, require: Callable[[bool, str], None]) -> None:
    """Exec keeps the pid, so systemd's MAINPID and the pid file name the broker itself."""
    try:
        find_mosquitto()
    except MosquittoNotFoundError as exc:
        require(False, str(exc))
    port = free_port()
    init_broker(tmp_path, port=port)
    credentials = add_service(tmp_path, "central")
    script = "import sys; from pathlib import Path; from linetrace.broker.mosquitto import "
    script += f"run_broker; sys.exit(run_broker(Path({str(tmp_path)!r})))"
    log = (tmp_path / "run.log").open("wb")
    process = subprocess.Popen([sys.executable, "-c", script], stdout=log, stderr=log)
    log.close()
    try:
        deadline = time.monotonic() + 10
        while running_pid(tmp_path) is None:
            assert process.poll() is None, (tmp_path / "run.log").read_text()
            assert time.monotonic() < deadline, "the broker never wrote its pid file"
            time.sleep(0.02)
        assert running_pid(tmp_path) == process.pid
        with Probe("127.0.0.1", port, credentials) as central:
            assert central.connect() == SUCCESS
            assert central.publish(topic(STATION, Channel.BATCH), b"b") in ACCEPTED
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=5) == 0


def test_credentials_print_as_json_scripts_can_read(tmp_path: Path) -> None:
    init_broker(tmp_path)
    credentials = add_station(tmp_path, STATION)
    assert json.loads(credentials.model_dump_json()) == {
        "username": "hcm/line1/st1",
        "password": credentials.password,
        "role": "station",
    }
