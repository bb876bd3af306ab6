"""linetrace.broker.client: one settings model and one client factory for every process."""

from __future__ import annotations

import socket
import threading
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from pydantic import SecretStr, ValidationError

from linetrace.broker.client import (
    RECONNECT_MAX_DELAY_S,
    RECONNECT_MIN_DELAY_S,
    MqttSettings,
    connect_properties,
    make_client,
)
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.errors import BrokerError
from tests.broker.mqtt_probe import ANSWER_TIMEOUT_S

STATION = StationId("hcm", "line1", "st1")


def test_defaults_are_a_plain_local_connection() -> None:
    settings = MqttSettings()
    assert (settings.host, settings.port, settings.tls) == ("localhost", 1883, False)
    assert (settings.username, settings.password, settings.client_id) == (None, None, None)
    assert (settings.keepalive_s, settings.session_expiry_s) == (30, 0)
    assert settings.password_text is None


def test_the_client_speaks_mqtt_v5_with_the_reconnect_backoff() -> None:
    client = make_client(MqttSettings(client_id="from-settings"))
    assert client.protocol is MQTTProtocolVersion.MQTTv5
    assert client._client_id == b"from-settings"
    assert (client._reconnect_min_delay, client._reconnect_max_delay) == (
        RECONNECT_MIN_DELAY_S,
        RECONNECT_MAX_DELAY_S,
    )


def test_an_explicit_client_id_overrides_the_settings() -> None:
    client = make_client(MqttSettings(client_id="from-settings"), client_id="derived")
    assert client._client_id == b"derived"


def test_credentials_are_set_and_the_password_stays_secret() -> None:
    settings = MqttSettings(username="hcm/line1/st1", password=SecretStr("s3cret"))
    assert "s3cret" not in repr(settings)
    assert settings.password_text == "s3cret"
    client = make_client(settings)
    assert (client.username, client.password) == ("hcm/line1/st1", "s3cret")


def test_no_credentials_without_a_username() -> None:
    assert make_client(MqttSettings()).username is None


def test_tls_with_the_systems_trust_store() -> None:
    client = make_client(MqttSettings(tls=True))
    assert client._ssl_context is not None


def test_a_ca_file_that_is_not_a_certificate_is_a_broker_error(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("not a certificate\n")
    with pytest.raises(BrokerError, match=r"mqtt\.tls_ca_file") as raised:
        make_client(MqttSettings(tls=True, tls_ca_file=ca))
    assert str(ca) in str(raised.value)


def test_a_ca_file_without_tls_is_refused(tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("")
    with pytest.raises(ValidationError, match="tls_ca_file is set but tls is false"):
        MqttSettings(tls_ca_file=ca)


def test_a_missing_ca_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValidationError, match="does not exist"):
        MqttSettings(tls=True, tls_ca_file=tmp_path / "missing.pem")


def test_unknown_keys_and_bad_ports_are_refused() -> None:
    with pytest.raises(ValidationError, match="tls_ca"):
        MqttSettings.model_validate({"tls_ca": "x"})  # the old edge key
    with pytest.raises(ValidationError, match="port"):
        MqttSettings(port=0)


def test_connect_properties_only_when_something_differs_from_the_defaults() -> None:
    assert connect_properties(MqttSettings()) is None
    kept = connect_properties(MqttSettings(session_expiry_s=3600), receive_maximum=50)
    assert kept is not None
    assert kept.packetType == PacketTypes.CONNECT
    assert kept.json() == {  # type: ignore[no-untyped-call]
        "SessionExpiryInterval": 3600,
        "ReceiveMaximum": 50,
    }
    only_flow = connect_properties(MqttSettings(), receive_maximum=10)
    assert only_flow is not None
    assert only_flow.json() == {"ReceiveMaximum": 10}  # type: ignore[no-untyped-call]


def test_packets_go_out_without_nagles_delay(mqtt_broker: LocalBroker) -> None:
    credentials = mqtt_broker.service("central")
    settings = MqttSettings(
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=credentials.username,
        password=SecretStr(credentials.password),
    )
    client = make_client(settings)
    client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    try:
        sock = client.socket()
        assert isinstance(sock, socket.socket)
        assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        client.disconnect()


def test_a_station_connects_and_publishes_to_a_local_broker(mqtt_broker: LocalBroker) -> None:
    credentials = mqtt_broker.station(str(STATION))
    settings = MqttSettings(
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=credentials.username,
        password=SecretStr(credentials.password),
        client_id="st1",
    )
    client = make_client(settings)
    connected = threading.Event()
    codes: list[int] = []

    def on_connect(*args: object) -> None:
        codes.append(getattr(args[3], "value", -1))
        connected.set()

    client.on_connect = on_connect
    client.connect(settings.host, settings.port, keepalive=settings.keepalive_s)
    client.loop_start()
    try:
        assert connected.wait(ANSWER_TIMEOUT_S), "no CONNACK"
        assert codes == [0]
        info = client.publish(topic(STATION, Channel.STATUS), b"{}", qos=1)
        info.wait_for_publish(ANSWER_TIMEOUT_S)
        assert info.is_published()
        assert info.rc == mqtt.MQTT_ERR_SUCCESS
    finally:
        client.disconnect()
        client.loop_stop()
