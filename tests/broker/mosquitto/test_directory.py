"""The broker directory: the generated configuration and access rules, kept across re-inits."""

from __future__ import annotations

import json
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
    role_acls,
)
from linetrace.broker.mosquitto.dynsec import find_plugin

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
    assert "password_file" not in settings
    assert "acl_file" not in settings
    assert settings["plugin"] == [str(find_plugin())]
    assert settings["plugin_opt_config_file"] == [str(broker.security)]
    assert settings["use_username_as_clientid"] == ["true"]
    assert settings["persistence"] == ["true"]
    assert settings["persistence_location"] == [str(broker.data)]
    assert settings["max_packet_size"] == [str(mosquitto.MAX_PACKET_KIB * 1024)]
    assert settings["max_queued_messages"] == [str(mosquitto.MAX_QUEUED_MESSAGES)]
    assert settings["persistent_client_expiration"] == ["14d"]
    assert settings["listener"] == ["2883 127.0.0.1"]
    assert "cafile" not in settings
    security = json.loads(broker.security.read_text())
    assert [c["username"] for c in security["clients"]] == ["linetrace-admin"]
    assert security["defaultACLAccess"] == {
        "publishClientSend": False,
        "publishClientReceive": False,
        "subscribe": False,
        "unsubscribe": True,
    }
    assert mode(broker.security) == 0o600
    assert mode(broker.credentials / "admin.json") == 0o600
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
    # Client ids are bound to accounts on every listener.
    assert settings["use_username_as_clientid"] == ["true", "true"]


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
    admin = (BrokerDir(directory).credentials / "admin.json").read_text()
    init_broker(directory, port=2884)
    assert (BrokerDir(directory).credentials / "admin.json").read_text() == admin
    assert add_station(directory, STATION) == station
    assert add_service(directory, "central") == central
    security = json.loads(BrokerDir(directory).security.read_text())
    assert {c["username"] for c in security["clients"]} == {
        "linetrace-admin",
        "central",
        "hcm/line1/st1",
    }


def granted(account: Credentials) -> set[tuple[str, str]]:
    return {(entry["acltype"], entry["topic"]) for entry in role_acls(account)}


def test_roles_give_stations_their_own_topics_and_central_its_group_only() -> None:
    station = Credentials(username="hcm/line1/st1", password="p", role=Role.STATION)
    assert granted(station) == {
        ("publishClientSend", "linetrace/v1/hcm/line1/st1/events"),
        ("publishClientSend", "linetrace/v1/hcm/line1/st1/status"),
        ("subscribePattern", "linetrace/v1/hcm/line1/st1/batch"),
        ("publishClientReceive", "linetrace/v1/hcm/line1/st1/batch"),
        ("subscribePattern", "linetrace/v1/hcm/line1/st1/ack"),
        ("publishClientReceive", "linetrace/v1/hcm/line1/st1/ack"),
    }
    central = granted(Credentials(username="central", password="p", role=Role.CENTRAL))
    assert ("subscribeLiteral", "$share/central/linetrace/v1/+/+/+/events") in central
    assert not any(t.startswith("$share") for kind, t in central if kind != "subscribeLiteral")
    assert ("publishClientSend", "linetrace/v1/+/+/+/ack") in central
    assert not any(kind == "publishClientSend" and "events" in t for kind, t in central)
    dash = granted(Credentials(username="dash", password="p", role=Role.MONITOR))
    assert dash == {
        ("subscribePattern", "linetrace/v1/#"),
        ("publishClientReceive", "linetrace/v1/#"),
    }
