"""The broker directory: the generated configuration and ACL, kept across re-inits."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from linetrace.broker import mosquitto
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import (
    BrokerDir,
    BrokerError,
    Credentials,
    Role,
    TlsFiles,
    add_service,
    add_station,
    init_broker,
    render_acl,
)

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
