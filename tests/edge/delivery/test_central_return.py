"""After a broker restart: central's return ends the wait at once, and the logs stay calm.

A broker restarted empty forgets central's session; until central subscribes again the
broker drops the station's events ("no matching subscribers"). Central republishes every
watermark right after subscribing again, and that live watermark must bring the dropped
events out again within seconds, not after the 30 s refusal retry. Neither the restart
nor a clean stop is an operator's problem, so neither logs at ERROR.
"""

from __future__ import annotations

import logging
import shutil
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto import Credentials
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.publisher import RETRY_REFUSED_S, Publisher
from linetrace.edge.line.passage import Passage
from tests.conditions import wait_until
from tests.edge.delivery.acking_sink import AckingSink

STATION = StationId("hcm1", "L1", "pack-1")
ICT = timezone(timedelta(hours=7))
# What the issue asks: every dropped event delivered within 5 s of central's return. It
# takes tens of milliseconds; the refusal retry this replaces waits 30 s.
CENTRAL_RETURN_LIMIT_S = 5.0
# Reconnects wait out paho's backoff (1 s, then 2 s); ample on a loaded two-core box.
RECONNECT_S = 20.0


def passage(number: int) -> Passage:
    seen = datetime(2026, 3, 1, 8, 0, tzinfo=ICT) + timedelta(seconds=number)
    return Passage(
        kind=EventKind.READ,
        first_seen=seen,
        last_seen=seen,
        frames=2,
        symbology="DataMatrix",
        text=f"item-{number}",
    )


def mqtt_config(broker: LocalBroker, credentials: Credentials) -> MqttSettings:
    return MqttSettings(
        host=broker.host,
        port=broker.port,
        username=credentials.username,
        password=SecretStr(credentials.password),
        keepalive_s=5,
    )


@contextmanager
def running(publisher: Publisher) -> Iterator[Publisher]:
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()


def fill(outbox: Outbox, publisher: Publisher, numbers: range) -> list[str]:
    ids = [str(outbox.append(passage(n)).event_id) for n in numbers]
    publisher.nudge()
    return ids


def restart_empty(broker: LocalBroker) -> None:
    """Stop the broker and start it again with no sessions, queues or retained messages."""
    broker.stop()
    shutil.rmtree(broker.directory / "data")
    (broker.directory / "data").mkdir()
    broker.start()


def test_events_dropped_before_central_resubscribes_go_out_when_it_is_back(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        # The default refusal retry (30 s): only central's return can explain a fast drain.
        running(Publisher(outbox, config, client_id="edge-a")) as publisher,
    ):
        assert RETRY_REFUSED_S > 5 * CENTRAL_RETURN_LIMIT_S
        fill(outbox, publisher, range(5))
        assert publisher.wait_drained(RECONNECT_S), publisher.stats
        sink.go_offline()  # central reconnects but has not subscribed again yet
        restart_empty(mqtt_broker)
        wait_until(lambda: publisher.stats.connects >= 2, RECONNECT_S, "edge never reconnected")
        dropped = fill(outbox, publisher, range(5, 15))
        wait_until(
            lambda: publisher.stats.unrouted >= len(dropped),
            RECONNECT_S,
            f"the broker did not drop the events: {publisher.stats}",
        )
        assert outbox.depth() == len(dropped)

        wait_until(lambda: sink.connected, RECONNECT_S, "central never reconnected")
        back_at = time.monotonic()
        sink.come_back()  # subscribes, then republishes its watermarks, as central does
        wait_until(
            lambda: outbox.depth() == 0,
            RECONNECT_S,
            f"events still waiting after central's return: {publisher.stats}",
        )
        drained_after = time.monotonic() - back_at
        received = sink.wait_for_events(5 + len(dropped))
        stats = publisher.stats
    assert drained_after < CENTRAL_RETURN_LIMIT_S, f"took {drained_after:.1f} s"
    assert set(dropped) <= {str(event.event_id) for event in received}
    assert stats.watermark == 15
    assert stats.rejected == 0


def test_a_broker_restart_and_a_clean_stop_log_no_error(
    mqtt_broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="linetrace")
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="edge-a")) as publisher,
    ):
        fill(outbox, publisher, range(3))
        assert publisher.wait_drained(RECONNECT_S), publisher.stats
        restart_empty(mqtt_broker)
        wait_until(lambda: publisher.stats.connects >= 2, RECONNECT_S, "edge never reconnected")
        sink.wait_subscribed(2, RECONNECT_S)
        fill(outbox, publisher, range(3, 6))
        assert publisher.wait_drained(RECONNECT_S), publisher.stats
        assert publisher.stats.disconnects == 1
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert errors == []
    # The disconnect itself is reported, once, by the publisher's callback.
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("disconnected from the broker" in message for message in warnings), warnings


def test_paho_errors_that_are_not_routine_stay_errors(caplog: pytest.LogCaptureFixture) -> None:
    make_client(MqttSettings())  # wires paho's logger
    paho = logging.getLogger("linetrace.broker.client.paho")
    caplog.set_level(logging.DEBUG, logger=paho.name)
    paho.error("Client is not connected. Socket: None). Last known Connection State: x")
    paho.error("failed to receive on socket: %s", ConnectionResetError(104, "reset by peer"))
    paho.error("Caught exception in on_publish: %s", ValueError("a bug"))
    levels = [(r.levelno, r.getMessage().split(":")[0]) for r in caplog.records]
    assert levels == [
        (logging.DEBUG, "Client is not connected. Socket"),
        (logging.INFO, "failed to receive on socket"),
        (logging.ERROR, "Caught exception in on_publish"),
    ]
