"""Who may publish and read what, checked against a real Mosquitto with the generated ACL."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from linetrace.broker.contract.topics import Channel, StationId, subscription, topic
from linetrace.broker.mosquitto import MAX_PACKET_KIB, Credentials, Role, TlsFiles, init_broker
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from tests.broker.mqtt_probe import (
    ACCEPTED,
    NOT_AUTHORIZED,
    PACKET_TOO_LARGE,
    SUCCESS,
    Probe,
)

A = StationId("hcm", "line1", "st1")
B = StationId("hcm", "line1", "st2")
SHARED_EVENTS = subscription(Channel.EVENTS, shared_group="central")


def probe(broker: LocalBroker, credentials: Credentials | None) -> Probe:
    return Probe(broker.host, broker.port, credentials)


def test_anonymous_client_is_refused(mqtt_broker: LocalBroker) -> None:
    with probe(mqtt_broker, None) as anonymous:
        assert anonymous.connect() == NOT_AUTHORIZED


def test_wrong_password_is_refused(mqtt_broker: LocalBroker) -> None:
    real = mqtt_broker.station(str(A))
    forged = Credentials(username=real.username, password=real.password + "x", role=real.role)
    with probe(mqtt_broker, forged) as client:
        assert client.connect() == NOT_AUTHORIZED


def test_unknown_user_is_refused(mqtt_broker: LocalBroker) -> None:
    mqtt_broker.station(str(A))
    stranger = Credentials(username=str(B), password="guess", role=Role.STATION)
    with probe(mqtt_broker, stranger) as client:
        assert client.connect() == NOT_AUTHORIZED


def test_station_events_reach_central_through_the_shared_subscription(
    mqtt_broker: LocalBroker,
) -> None:
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert station.connect() == SUCCESS
        assert central.connect() == SUCCESS
        assert central.subscribe(SHARED_EVENTS) == 1
        assert station.publish(topic(A, Channel.EVENTS), b'{"seq": 1}') == SUCCESS
        assert station.publish(topic(A, Channel.STATUS), b"{}", retain=True) in ACCEPTED
        received = central.next_message()
        assert (received.topic, received.payload) == (topic(A, Channel.EVENTS), b'{"seq": 1}')


def test_station_cannot_publish_as_another_station(mqtt_broker: LocalBroker) -> None:
    mqtt_broker.station(str(B))
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station_a,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert station_a.connect() == SUCCESS
        assert central.connect() == SUCCESS
        central.subscribe(SHARED_EVENTS)
        central.subscribe(subscription(Channel.STATUS))
        assert station_a.publish(topic(B, Channel.EVENTS), b"forged") == NOT_AUTHORIZED
        assert station_a.publish(topic(B, Channel.STATUS), b"forged") == NOT_AUTHORIZED
        # Nor may it write what only central writes, even for itself.
        assert station_a.publish(topic(A, Channel.ACK), b"forged") == NOT_AUTHORIZED
        assert station_a.publish(topic(A, Channel.BATCH), b"forged") == NOT_AUTHORIZED
        central.assert_silent()


@pytest.mark.parametrize(
    "outside",
    [
        "linetrace/v1/hcm/line1/st1/other",
        "linetrace/v1/hcm/line1/st1/events/extra",
        "linetrace/v1/hcm/line1",
        "elsewhere",
    ],
)
def test_station_cannot_publish_outside_its_channels(
    mqtt_broker: LocalBroker, outside: str
) -> None:
    with probe(mqtt_broker, mqtt_broker.station(str(A))) as station:
        assert station.connect() == SUCCESS
        assert station.publish(outside, b"x") == NOT_AUTHORIZED


def test_station_reads_only_its_own_batch_and_ack(mqtt_broker: LocalBroker) -> None:
    """Another station's topics are refused at SUBSCRIBE (0x87); its own arrive, retained too."""
    mqtt_broker.station(str(B))
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station_a,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert central.connect() == SUCCESS
        assert central.publish(topic(B, Channel.BATCH), b"batch-b", retain=True) in ACCEPTED
        assert station_a.connect() == SUCCESS
        assert station_a.subscribe(topic(B, Channel.BATCH)) == NOT_AUTHORIZED
        assert station_a.subscribe(topic(B, Channel.ACK)) == NOT_AUTHORIZED
        assert station_a.subscribe("linetrace/v1/#") == NOT_AUTHORIZED
        assert central.publish(topic(B, Channel.ACK), b"ack-b", retain=True) in ACCEPTED
        station_a.assert_silent()
        assert station_a.subscribe(topic(A, Channel.BATCH)) == 1
        assert station_a.subscribe(topic(A, Channel.ACK)) == 1

        assert central.publish(topic(A, Channel.BATCH), b"batch-a", retain=True) in ACCEPTED
        assert central.publish(topic(A, Channel.ACK), b"ack-a", retain=True) in ACCEPTED
        got = {station_a.next_message().payload, station_a.next_message().payload}
        assert got == {b"batch-a", b"ack-a"}
        station_a.assert_silent()


def test_station_cannot_read_other_stations_events(mqtt_broker: LocalBroker) -> None:
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station_a,
        probe(mqtt_broker, mqtt_broker.station(str(B))) as station_b,
    ):
        assert station_a.connect() == SUCCESS
        assert station_b.connect() == SUCCESS
        station_a.subscribe(subscription(Channel.EVENTS))
        station_a.subscribe(SHARED_EVENTS)
        station_a.subscribe(subscription(Channel.STATUS))
        assert station_b.publish(topic(B, Channel.EVENTS), b"event-b") in ACCEPTED
        assert station_b.publish(topic(B, Channel.STATUS), b"status-b", retain=True) in ACCEPTED
        # Not even its own: a station writes events, it does not read them back.
        assert station_a.publish(topic(A, Channel.EVENTS), b"event-a") in ACCEPTED
        station_a.assert_silent()


def test_station_receives_batch_and_ack_from_central(mqtt_broker: LocalBroker) -> None:
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert central.connect() == SUCCESS
        assert central.publish(topic(A, Channel.BATCH), b"batch", retain=True) in ACCEPTED
        assert station.connect() == SUCCESS
        station.subscribe(topic(A, Channel.BATCH))
        station.subscribe(topic(A, Channel.ACK))
        retained = station.next_message()
        assert (retained.payload, retained.retain) == (b"batch", True)
        assert central.publish(topic(A, Channel.ACK), b"ack", retain=True) in ACCEPTED
        assert station.next_message().payload == b"ack"


def test_central_may_not_publish_events(mqtt_broker: LocalBroker) -> None:
    with probe(mqtt_broker, mqtt_broker.service()) as central:
        assert central.connect() == SUCCESS
        assert central.publish(topic(A, Channel.EVENTS), b"forged") == NOT_AUTHORIZED
        assert central.publish(topic(A, Channel.STATUS), b"forged") == NOT_AUTHORIZED


def test_oversized_message_is_refused(mqtt_broker: LocalBroker) -> None:
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert station.connect() == SUCCESS
        assert central.connect() == SUCCESS
        central.subscribe(SHARED_EVENTS)
        # The largest message that fits still goes through...
        fits = b"x" * (MAX_PACKET_KIB * 1024 - 200)
        assert station.publish(topic(A, Channel.EVENTS), fits) in ACCEPTED
        assert central.next_message().payload == fits
        # ...one byte-for-byte over the limit is dropped and its sender disconnected.
        oversized = b"x" * (MAX_PACKET_KIB * 1024 + 1)
        assert station.publish_unanswered(topic(A, Channel.EVENTS), oversized) is None
        assert station.disconnect_reason == PACKET_TOO_LARGE
        central.assert_silent()


def test_new_station_works_without_restarting_the_broker(mqtt_broker: LocalBroker) -> None:
    """``station()`` reloads the running broker; the users before it keep working."""
    with probe(mqtt_broker, mqtt_broker.station(str(A))) as first:
        assert first.connect() == SUCCESS
        with probe(mqtt_broker, mqtt_broker.station(str(B))) as second:
            assert second.connect() == SUCCESS
            assert second.publish(topic(B, Channel.EVENTS), b"b") in ACCEPTED
        assert first.publish(topic(A, Channel.EVENTS), b"a") in ACCEPTED


def test_retained_state_survives_a_broker_restart(mqtt_broker: LocalBroker) -> None:
    central_credentials = mqtt_broker.service()
    station_credentials = mqtt_broker.station(str(A))
    with probe(mqtt_broker, central_credentials) as central:
        assert central.connect() == SUCCESS
        assert central.publish(topic(A, Channel.BATCH), b"batch", retain=True) in ACCEPTED
    mqtt_broker.stop()
    mqtt_broker.start()
    with probe(mqtt_broker, station_credentials) as station:
        assert station.connect() == SUCCESS
        station.subscribe(topic(A, Channel.BATCH))
        assert station.next_message().payload == b"batch"


def make_certificates(directory: Path) -> TlsFiles:
    """A throwaway CA and a broker certificate for 127.0.0.1, made with openssl."""
    ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"]
    ca, ca_key = directory / "ca.pem", directory / "ca-key.pem"
    cert, key = directory / "broker.pem", directory / "broker-key.pem"
    request, extensions = directory / "broker.csr", directory / "san.ext"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")

    def openssl(*args: str | Path) -> None:
        subprocess.run(["openssl", *map(str, args)], check=True, capture_output=True)

    openssl("req", "-x509", *ec, "-keyout", ca_key, "-out", ca, "-days", "1", "-subj", "/CN=ca")
    openssl("req", *ec, "-keyout", key, "-out", request, "-subj", "/CN=127.0.0.1")
    openssl(
        "x509", "-req", "-in", request, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
        "-out", cert, "-days", "1", "-extfile", extensions,
    )  # fmt: skip
    return TlsFiles(ca=ca, cert=cert, key=key, port=free_port(), bind="127.0.0.1")


def test_tls_listener_serves_stations(
    mqtt_broker: LocalBroker, tmp_path: Path, require: Callable[[bool, str], None]
) -> None:
    require(shutil.which("openssl") is not None, "openssl is needed to make test certificates")
    credentials = mqtt_broker.station(str(A))
    tls = make_certificates(tmp_path)
    init_broker(mqtt_broker.directory, port=mqtt_broker.port, tls=tls)
    mqtt_broker.stop()
    mqtt_broker.start()
    with Probe(mqtt_broker.host, tls.port, credentials, tls_ca=tls.ca) as station:
        assert station.connect() == SUCCESS
        assert station.publish(topic(A, Channel.EVENTS), b"over tls") in ACCEPTED
    with Probe(mqtt_broker.host, tls.port, None, tls_ca=tls.ca) as anonymous:
        assert anonymous.connect() == NOT_AUTHORIZED
