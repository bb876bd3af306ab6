"""``linetrace broker sessions``: a retired replica's session stops taking events once removed.

Replicas here are MQTT v5 clients doing what central's receiver does: one account each,
a persistent session (clean start off, a session expiry) and central's shared events
subscription, reconnecting with paho's backoff when thrown off.
"""

from __future__ import annotations

import json
import queue
from collections.abc import Iterator
from contextlib import contextmanager

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from paho.mqtt.subscribeoptions import SubscribeOptions
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.topics import SHARED_GROUP, Channel, StationId, subscription, topic
from linetrace.broker.mosquitto import Credentials, Role
from linetrace.broker.mosquitto.local import LocalBroker
from tests.broker.mqtt_probe import ACCEPTED, SUCCESS, Probe
from tests.broker.test_cli import broker_verb
from tests.conditions import wait_until

STATION = StationId("hcm", "line1", "st1")
SHARED_EVENTS = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)
EVENTS = 20


@contextmanager
def replica(broker: LocalBroker, credentials: Credentials) -> Iterator[queue.Queue[bytes]]:
    """A running replica: persistent session in central's group, reconnecting when thrown off."""
    settings = MqttSettings(
        host=broker.host,
        port=broker.port,
        username=credentials.username,
        password=SecretStr(credentials.password),
        session_expiry_s=3600,
    )
    client = make_client(settings)
    received: queue.Queue[bytes] = queue.Queue()
    connects: queue.Queue[int] = queue.Queue()

    def on_connect(c: mqtt.Client, _u: object, _f: object, reason: object, _p: object) -> None:
        c.subscribe(SHARED_EVENTS, options=SubscribeOptions(qos=1))
        connects.put(1)

    client.on_connect = on_connect
    client.on_message = lambda _c, _u, message: received.put(bytes(message.payload))
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.SessionExpiryInterval = settings.session_expiry_s
    client.connect(broker.host, broker.port, keepalive=30, clean_start=False, properties=properties)
    client.loop_start()
    connects.get(timeout=10)
    try:
        yield received
    finally:
        client.disconnect()
        client.loop_stop()


def publish(broker: LocalBroker, first: int, count: int) -> list[bytes]:
    payloads = [f"event-{n}".encode() for n in range(first, first + count)]
    with Probe(broker.host, broker.port, broker.station(str(STATION))) as station:
        assert station.connect() == SUCCESS
        for payload in payloads:
            assert station.publish(topic(STATION, Channel.EVENTS), payload) in ACCEPTED
    return payloads


def drain(probe: Probe) -> list[bytes]:
    """Everything that arrives until the probe has been silent a while."""
    got = []
    while True:
        try:
            got.append(probe.next_message(timeout=0.5).payload)
        except queue.Empty:
            return got


def test_a_retired_replica_takes_a_share_until_its_session_is_removed(
    mqtt_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    retired = mqtt_broker.service("central-old")
    with replica(mqtt_broker, retired):
        pass  # it ran once and was shut down: its session stays in the shared group
    with Probe(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central-a")) as central:
        assert central.connect() == SUCCESS
        assert central.subscribe(SHARED_EVENTS) == 1
        before = publish(mqtt_broker, 0, EVENTS)
        # The retired session absorbs a round-robin share of the events.
        assert 0 < len(drain(central)) < len(before)

        assert broker_verb("sessions", "remove", mqtt_broker.directory, "central-old") == 0
        result = json.loads(capsys.readouterr().out)
        assert result == {
            "replica": "central-old",
            "had_session": True,
            "online": False,
            "removed": True,
        }
        after = publish(mqtt_broker, EVENTS, EVENTS)
        assert [central.next_message().payload for _ in after] == after
        central.assert_silent()


def test_a_running_replica_keeps_its_session(
    mqtt_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    running = mqtt_broker.service("central-b")
    with (
        replica(mqtt_broker, running) as received,
        Probe(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central-a")) as central,
    ):
        assert central.connect() == SUCCESS
        assert central.subscribe(SHARED_EVENTS) == 1
        assert broker_verb("sessions", "remove", mqtt_broker.directory, "central-b") == 1
        assert json.loads(capsys.readouterr().out)["online"] is True
        # Still in the group: the two replicas share what comes next, and miss nothing.
        sent = publish(mqtt_broker, 0, EVENTS)
        got = drain(central)
        wait_until(lambda: received.qsize() + len(got) >= len(sent), timeout=10)
        from_b = [received.get_nowait() for _ in range(received.qsize())]
        assert sorted(got + from_b) == sorted(sent)
        assert from_b


def test_list_names_the_central_replicas_only(
    mqtt_broker: LocalBroker, capsys: pytest.CaptureFixture[str]
) -> None:
    for name in ("central-a", "central-b"):
        mqtt_broker.service(name)
    mqtt_broker.service("dash", role=Role.MONITOR)
    mqtt_broker.station(str(STATION))
    capsys.readouterr()
    assert broker_verb("sessions", "list", mqtt_broker.directory) == 0
    listed = [json.loads(line)["replica"] for line in capsys.readouterr().out.splitlines()]
    assert {"central-a", "central-b"} <= set(listed)
    assert "dash" not in listed
    assert str(STATION) not in listed


def test_remove_refuses_what_is_not_a_replica(mqtt_broker: LocalBroker) -> None:
    mqtt_broker.service("dash", role=Role.MONITOR)
    assert broker_verb("sessions", "remove", mqtt_broker.directory, "nobody") == 1
    assert broker_verb("sessions", "remove", mqtt_broker.directory, "dash") == 1
