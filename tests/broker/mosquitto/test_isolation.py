"""No account can disturb another: the publish/subscribe/client-id matrix on a real broker.

Every case runs against a Mosquitto started with the project's own generated config
(``LocalBroker``), as a station, as central, as a monitor and anonymously. Subscriptions
are checked when they are made (the SUBACK says 0x87), so a station cannot join central's
shared group and take a share of every station's events; client ids are bound to the
account, so no login can throw another client off by taking its id.
"""

from __future__ import annotations

import pytest

from linetrace.broker.contract.topics import SHARED_GROUP, Channel, StationId, subscription, topic
from linetrace.broker.mosquitto import Credentials, Role
from linetrace.broker.mosquitto.local import LocalBroker
from tests.broker.mqtt_probe import ACCEPTED, NOT_AUTHORIZED, SUCCESS, Probe

A = StationId("hcm", "line1", "st1")
B = StationId("hcm", "line1", "st2")
SHARED_EVENTS = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)
GRANTED = 1  # the SUBACK of a QoS 1 subscription that was accepted
CENTRAL_CLIENT_ID = "linetrace-central"


def probe(broker: LocalBroker, credentials: Credentials | None, client_id: str = "") -> Probe:
    return Probe(broker.host, broker.port, credentials, client_id=client_id)


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        (topic(A, Channel.BATCH), GRANTED),
        (topic(A, Channel.ACK), GRANTED),
        (topic(B, Channel.BATCH), NOT_AUTHORIZED),
        (topic(B, Channel.ACK), NOT_AUTHORIZED),
        (topic(A, Channel.EVENTS), NOT_AUTHORIZED),
        (SHARED_EVENTS, NOT_AUTHORIZED),
        ("$share/central/#", NOT_AUTHORIZED),
        ("$share/thief/linetrace/v1/+/+/+/events", NOT_AUTHORIZED),
        (subscription(Channel.EVENTS), NOT_AUTHORIZED),
        (subscription(Channel.STATUS), NOT_AUTHORIZED),
        ("linetrace/v1/#", NOT_AUTHORIZED),
        ("linetrace/v1/hcm/line1/+/ack", NOT_AUTHORIZED),
        ("#", NOT_AUTHORIZED),
        ("$CONTROL/dynamic-security/#", NOT_AUTHORIZED),
    ],
)
def test_station_may_subscribe_only_to_its_own_batch_and_ack(
    mqtt_broker: LocalBroker, topic_filter: str, expected: int
) -> None:
    mqtt_broker.station(str(B))
    with probe(mqtt_broker, mqtt_broker.station(str(A))) as station:
        assert station.connect() == SUCCESS
        assert station.subscribe(topic_filter) == expected


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        (SHARED_EVENTS, GRANTED),
        (topic(A, Channel.BATCH), GRANTED),
        (topic(A, Channel.ACK), GRANTED),
        (subscription(Channel.STATUS), GRANTED),
        (subscription(Channel.EVENTS), GRANTED),  # a full copy, for tools; not a share
        # Another group would take a full copy of every event beside the real one.
        ("$share/other/linetrace/v1/+/+/+/events", NOT_AUTHORIZED),
        ("$share/central/#", NOT_AUTHORIZED),
        ("#", NOT_AUTHORIZED),
        ("$CONTROL/dynamic-security/#", NOT_AUTHORIZED),
    ],
)
def test_central_reads_every_station_but_joins_only_its_own_group(
    mqtt_broker: LocalBroker, topic_filter: str, expected: int
) -> None:
    with probe(mqtt_broker, mqtt_broker.service()) as central:
        assert central.connect() == SUCCESS
        assert central.subscribe(topic_filter) == expected


@pytest.mark.parametrize(
    ("topic_filter", "expected"),
    [
        ("linetrace/v1/#", GRANTED),
        (SHARED_EVENTS, NOT_AUTHORIZED),
        ("$share/central/#", NOT_AUTHORIZED),
        ("#", NOT_AUTHORIZED),
    ],
)
def test_monitor_reads_everything_but_cannot_join_centrals_group(
    mqtt_broker: LocalBroker, topic_filter: str, expected: int
) -> None:
    with probe(mqtt_broker, mqtt_broker.service("dash", role=Role.MONITOR)) as monitor:
        assert monitor.connect() == SUCCESS
        assert monitor.subscribe(topic_filter) == expected
        assert monitor.publish(topic(A, Channel.ACK), b"forged") == NOT_AUTHORIZED


def test_publish_matrix(mqtt_broker: LocalBroker) -> None:
    mqtt_broker.station(str(B))
    with (
        probe(mqtt_broker, mqtt_broker.station(str(A))) as station,
        probe(mqtt_broker, mqtt_broker.service()) as central,
    ):
        assert station.connect() == SUCCESS
        assert central.connect() == SUCCESS
        for channel in (Channel.EVENTS, Channel.STATUS):
            assert station.publish(topic(A, channel), b"own") in ACCEPTED
            assert station.publish(topic(B, channel), b"forged") == NOT_AUTHORIZED
            assert central.publish(topic(A, channel), b"forged") == NOT_AUTHORIZED
        for channel in (Channel.BATCH, Channel.ACK):
            assert station.publish(topic(A, channel), b"forged") == NOT_AUTHORIZED
            assert central.publish(topic(A, channel), b"central's") in ACCEPTED
        for outside in ("linetrace/v1/x", "elsewhere", "$SYS/broker/x"):
            assert station.publish(outside, b"x") == NOT_AUTHORIZED
            assert central.publish(outside, b"x") == NOT_AUTHORIZED


def test_anonymous_client_can_do_nothing(mqtt_broker: LocalBroker) -> None:
    with probe(mqtt_broker, None) as anonymous:
        assert anonymous.connect() == NOT_AUTHORIZED
    with probe(mqtt_broker, None, client_id=CENTRAL_CLIENT_ID) as anonymous:
        assert anonymous.connect() == NOT_AUTHORIZED


@pytest.mark.parametrize("stolen", [CENTRAL_CLIENT_ID, "linetrace-edge-hcm.line1.st2"])
def test_a_station_cannot_throw_another_client_off_by_taking_its_client_id(
    mqtt_broker: LocalBroker, stolen: str
) -> None:
    """Central keeps receiving, and station B keeps publishing, while A uses their ids."""
    with (
        probe(mqtt_broker, mqtt_broker.service(), CENTRAL_CLIENT_ID) as central,
        probe(mqtt_broker, mqtt_broker.station(str(B)), "linetrace-edge-hcm.line1.st2") as b,
        probe(mqtt_broker, mqtt_broker.station(str(A)), stolen) as impostor,
    ):
        assert central.connect() == SUCCESS
        assert central.subscribe(SHARED_EVENTS) == GRANTED
        assert b.connect() == SUCCESS
        assert impostor.connect() == SUCCESS
        assert impostor.publish(topic(A, Channel.EVENTS), b"a") in ACCEPTED
        assert b.publish(topic(B, Channel.EVENTS), b"b") in ACCEPTED
        assert {central.next_message().payload, central.next_message().payload} == {b"a", b"b"}
        assert (central.disconnect_reason, b.disconnect_reason) == (None, None)


def test_a_station_cannot_throw_a_replica_off_with_its_own_client_id(
    mqtt_broker: LocalBroker,
) -> None:
    """A station that names itself after a second replica's account gets its own id."""
    replica = mqtt_broker.service("central-b")
    with (
        probe(mqtt_broker, replica, "central-b") as central_b,
        probe(mqtt_broker, mqtt_broker.station(str(A)), "central-b") as impostor,
    ):
        assert central_b.connect() == SUCCESS
        assert impostor.connect() == SUCCESS
        assert impostor.publish(topic(A, Channel.EVENTS), b"a") in ACCEPTED
        assert central_b.disconnect_reason is None


def test_a_thief_station_gets_no_share_of_the_events(mqtt_broker: LocalBroker) -> None:
    """With three thieves in central's group, central still gets every event at once."""
    thieves = [StationId("hcm", "line9", f"t{n}") for n in range(3)]
    with (
        probe(mqtt_broker, mqtt_broker.service(), CENTRAL_CLIENT_ID) as central,
        probe(mqtt_broker, mqtt_broker.station(str(B))) as station,
    ):
        assert central.connect() == SUCCESS
        assert central.subscribe(SHARED_EVENTS) == GRANTED
        assert station.connect() == SUCCESS
        probes = [probe(mqtt_broker, mqtt_broker.station(str(thief))) for thief in thieves]
        try:
            for thief in probes:
                assert thief.connect() == SUCCESS
                # The refusal is visible to the thief at once: SUBACK 0x87.
                assert thief.subscribe(SHARED_EVENTS) == NOT_AUTHORIZED
            sent = [f"event-{n}".encode() for n in range(40)]
            for payload in sent:
                assert station.publish(topic(B, Channel.EVENTS), payload) in ACCEPTED
            # No wait for a resend: each event arrives within one answer timeout.
            assert [central.next_message().payload for _ in sent] == sent
            for thief in probes:
                thief.assert_silent()
        finally:
            for thief in probes:
                thief.close()
    # The broker's log names every account granted a subscription: central, no thief.
    log = mqtt_broker.log()
    assert f"{mqtt_broker.service().username} 1 {SHARED_EVENTS}" in log
    assert not any(f"{thief} 1 $share" in log for thief in thieves)
