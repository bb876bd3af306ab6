"""The publisher against a real Mosquitto: delivery on central's watermark, outages, restarts,
ACL rejections, resends, the retained status and the batch topic."""

from __future__ import annotations

import os
import shutil
import signal
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings
from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.broker.mosquitto import Credentials, init_broker, running_pid
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.config import default_client_id
from linetrace.edge.delivery.mqtt_link import check_broker
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.publisher import Publisher
from linetrace.edge.line.passage import Passage
from linetrace.errors import BrokerError
from linetrace.ports import free_port
from tests.broker.mosquitto.test_access import make_certificates
from tests.edge.delivery.acking_sink import AckingSink
from tests.edge.delivery.event_sink import EventSink

STATION = StationId("hcm1", "L1", "pack-1")
ICT = timezone(timedelta(hours=7))
# Delivery to a local broker takes milliseconds; a reconnect waits out paho's first 1 s
# backoff step and then a doubling one, so 15 s is ample even on a loaded box.
DELIVERY_TIMEOUT_S = 15.0


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


def mqtt_config(broker: LocalBroker, credentials: Credentials, **changes: object) -> MqttSettings:
    return MqttSettings.model_validate(
        {
            "host": broker.host,
            "port": broker.port,
            "username": credentials.username,
            "password": SecretStr(credentials.password),
            "keepalive_s": 5,
            **changes,
        }
    )


@contextmanager
def running(publisher: Publisher) -> Iterator[Publisher]:
    publisher.start()
    try:
        yield publisher
    finally:
        publisher.stop()


def fill(outbox: Outbox, publisher: Publisher | None, numbers: range) -> list[str]:
    ids = [str(outbox.append(passage(n)).event_id) for n in numbers]
    if publisher is not None:
        publisher.nudge()
    return ids


def test_every_event_is_delivered_in_order_and_then_removed(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(
            Publisher(outbox, config, client_id=default_client_id(STATION), max_inflight=4)
        ) as publisher,
    ):
        assert publisher.wait_connected(DELIVERY_TIMEOUT_S)  # all 40 are live, in seq order
        sent = fill(outbox, publisher, range(40))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
        received = sink.wait_for_events(40)
        assert sink.wait_for_status("online").state == "online"
        stats = publisher.stats
    assert [str(event.event_id) for event in received] == sent
    assert [event.seq for event in received] == list(range(1, 41))
    assert outbox.depth() == 0
    assert stats.acknowledged == 40
    assert stats.rejected == 0
    assert stats.covered == 40
    assert stats.watermark == 40
    assert stats.resent == 0
    assert stats.connected
    assert stats.inflight == 0


def test_retained_status_says_online_then_offline(mqtt_broker: LocalBroker, tmp_path: Path) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    central = mqtt_broker.service("central")
    with Outbox(tmp_path / "outbox.db", STATION) as outbox:
        publisher = Publisher(outbox, config, client_id="edge-a", tz=ICT)
        with running(publisher):
            assert publisher.wait_connected(DELIVERY_TIMEOUT_S)
            with EventSink(mqtt_broker.host, mqtt_broker.port, central) as sink:
                online = sink.wait_for_status("online")
    with EventSink(mqtt_broker.host, mqtt_broker.port, central) as late:
        offline = late.wait_for_status("offline")  # retained: a newcomer learns it at once
    assert online.at.utcoffset() == timedelta(hours=7)
    assert offline.at >= online.at


def test_events_stored_during_a_broker_outage_arrive_after_it_returns(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(
            Publisher(outbox, config, client_id="edge-a", max_inflight=8, retry_refused_s=0.5)
        ) as publisher,
    ):
        before = fill(outbox, publisher, range(10))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        mqtt_broker.stop()
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while publisher.stats.connected and time.monotonic() < deadline:
            time.sleep(0.02)
        assert not publisher.stats.connected
        during = fill(outbox, publisher, range(10, 40))
        time.sleep(0.3)
        assert outbox.depth() == 30  # nothing is acknowledged while the broker is away
        mqtt_broker.start()
        # Whatever reaches the broker before the subscriber is back is refused as unrouted
        # and offered again; none of it may be lost.
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
        sink.wait_for_events(40)
        stats = publisher.stats
    assert sink.event_ids() == set(before + during)
    assert outbox.depth() == 0
    assert stats.connects == 2
    assert stats.disconnects == 1


def test_a_restarted_publisher_sends_what_the_last_one_left(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    central = mqtt_broker.service("central")
    mqtt_broker.stop()
    path = tmp_path / "outbox.db"
    with Outbox(path, STATION) as outbox, running(Publisher(outbox, config, client_id="e")) as p:
        left = fill(outbox, p, range(12))
        time.sleep(0.3)
    mqtt_broker.start()
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, central) as sink,
        Outbox(path, STATION) as outbox,
    ):
        assert outbox.depth() == 12
        with running(Publisher(outbox, config, client_id="e")) as publisher:
            assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
            more = fill(outbox, publisher, range(12, 15))
            assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        received = sink.wait_for_events(15)
    assert sink.event_ids() == set(left + more)
    assert [event.seq for event in received] == list(range(1, 16))


def wait_until(condition: Callable[[], bool], timeout: float = DELIVERY_TIMEOUT_S) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.02)


def test_events_the_broker_refuses_stay_in_the_outbox(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    # pack-1's credentials on pack-2's topic: the ACL refuses with PUBACK 135.
    intruder = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    other = StationId("hcm1", "L1", "pack-2")
    with (
        EventSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", other) as outbox,
        running(
            Publisher(outbox, intruder, client_id="edge-x", max_inflight=4, retry_refused_s=2.0)
        ) as publisher,
    ):
        fill(outbox, publisher, range(10))
        # A whole window refused in a row: the broker refuses the station, so sending
        # pauses until the retry instead of offering it every event.
        wait_until(lambda: publisher.stats.rejected >= 4)
        assert not publisher.wait_drained(0.5)
        paused_at = publisher.stats.rejected
        assert paused_at < 8  # slots freed before the streak was complete refill once
        assert not publisher.wait_drained(0.3)
        assert publisher.stats.rejected == paused_at
        wait_until(lambda: publisher.stats.rejected > paused_at)  # the retry
        stats = publisher.stats
        assert sink.quiet_for(0.2) == []
    assert stats.acknowledged == 0
    assert stats.unrouted == 0
    assert outbox.depth() == 10


def test_events_nobody_subscribes_to_wait_for_a_subscriber(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    central = mqtt_broker.service("central")
    with (
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="e", retry_refused_s=0.3)) as publisher,
    ):
        sent = fill(outbox, publisher, range(6))
        deadline = time.monotonic() + DELIVERY_TIMEOUT_S
        while publisher.stats.unrouted < 6 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert outbox.depth() == 6  # the broker said "no subscribers": not delivered
        with AckingSink(mqtt_broker.host, mqtt_broker.port, central) as sink:
            assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
            received = sink.wait_for_events(6)
        stats = publisher.stats
    assert [str(event.event_id) for event in received] == sent
    assert stats.unrouted >= 6
    assert stats.rejected == 0
    assert stats.acknowledged == 6


def test_wrong_credentials_never_connect_and_keep_every_event(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    credentials = mqtt_broker.station(str(STATION))
    wrong = mqtt_config(mqtt_broker, credentials, password=SecretStr("not-the-password"))
    with (
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, wrong, client_id="edge-w")) as publisher,
    ):
        fill(outbox, publisher, range(3))
        assert not publisher.wait_connected(1.5)
        assert publisher.stats.published == 0
    assert outbox.depth() == 3


def test_check_broker_says_why_it_fails(mqtt_broker: LocalBroker) -> None:
    credentials = mqtt_broker.station(str(STATION))
    check_broker(mqtt_config(mqtt_broker, credentials), "edge-check")
    with pytest.raises(BrokerError, match="refused user 'hcm1/L1/pack-1'"):
        check_broker(mqtt_config(mqtt_broker, credentials, password="wrong"), "edge-check")
    closed = mqtt_config(mqtt_broker, credentials, port=free_port())
    with pytest.raises(BrokerError, match=r"cannot reach 127\.0\.0\.1"):
        check_broker(closed, "edge-check")


def test_events_in_flight_when_the_broker_dies_are_sent_again(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(
            Publisher(outbox, config, client_id="edge-a", max_inflight=8, retry_refused_s=0.5)
        ) as publisher,
    ):
        delivered = fill(outbox, publisher, range(3))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        pid = running_pid(mqtt_broker.directory)
        assert pid is not None
        os.kill(pid, signal.SIGSTOP)  # the broker reads nothing and answers nothing
        try:
            in_flight = fill(outbox, publisher, range(3, 8))
            deadline = time.monotonic() + DELIVERY_TIMEOUT_S
            while publisher.stats.inflight < 5 and time.monotonic() < deadline:
                time.sleep(0.02)
            os.kill(pid, signal.SIGTERM)
        finally:
            os.kill(pid, signal.SIGCONT)
        mqtt_broker.stop()
        mqtt_broker.start()
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
        sink.wait_for_events(8)
        stats = publisher.stats
    # Paho retries its in-flight copies and the outbox is resent: duplicates are allowed
    # (central dedupes on event_id), a missing event is not.
    assert sink.event_ids() == set(delivered + in_flight)
    assert outbox.depth() == 0
    assert stats.disconnects == 1
    assert stats.rejected == 0


def test_events_travel_over_tls_and_a_foreign_ca_is_refused(
    mqtt_broker: LocalBroker, tmp_path: Path, require: Callable[[bool, str], None]
) -> None:
    require(shutil.which("openssl") is not None, "openssl is needed to make test certificates")
    credentials = mqtt_broker.station(str(STATION))
    (tmp_path / "ours").mkdir()
    (tmp_path / "foreign").mkdir()
    tls = make_certificates(tmp_path / "ours")
    foreign_ca = make_certificates(tmp_path / "foreign").ca
    init_broker(mqtt_broker.directory, port=mqtt_broker.port, tls=tls)
    mqtt_broker.stop()
    mqtt_broker.start()
    secure = mqtt_config(mqtt_broker, credentials, port=tls.port, tls=True, tls_ca_file=tls.ca)
    check_broker(secure, "edge-check")
    with pytest.raises(BrokerError, match="CERTIFICATE_VERIFY_FAILED"):
        check_broker(secure.model_copy(update={"tls_ca_file": foreign_ca}), "edge-check")
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, secure, client_id="edge-tls")) as publisher,
    ):
        assert publisher.wait_connected(DELIVERY_TIMEOUT_S)  # all three live, in seq order
        sent = fill(outbox, publisher, range(3))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
        received = sink.wait_for_events(3)
    assert [str(event.event_id) for event in received] == sent


def test_events_leave_the_outbox_only_when_central_covers_them(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="edge-a")) as publisher,
    ):
        sink.acking = False
        fill(outbox, publisher, range(5))
        sink.wait_for_events(5)
        wait_until(lambda: publisher.stats.acknowledged == 5)
        assert not publisher.wait_drained(0.3)  # the broker has them; central has not said so
        assert outbox.depth() == 5
        sink.publish_watermark(STATION, 3)
        wait_until(lambda: outbox.depth() == 2)
        assert [seq for seq, _ in outbox.pending(10)] == [4, 5]
        sink.confirm_all()
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        stats = publisher.stats
    assert (stats.covered, stats.watermark, stats.uncovered) == (5, 5, 0)


def test_uncovered_events_are_sent_again_with_the_same_event_id(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="edge-a", resend_timeout_s=1.0)) as publisher,
    ):
        sink.acking = False  # a central that stores nothing: the broker's PUBACK is not enough
        sent = fill(outbox, publisher, range(4))
        wait_until(lambda: len(sink.events) >= 8)
        resent = publisher.stats.resent
        sink.confirm_all()
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        settled = len(sink.quiet_for(1.5))
        after = sink.quiet_for(0.5)
    assert resent >= 4
    assert sorted(str(event.event_id) for event in after[:8]) == sorted(sent * 2)
    assert len(after) == settled  # nothing more once central covered them


def test_a_broker_restarted_empty_loses_nothing(mqtt_broker: LocalBroker, tmp_path: Path) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        # Refused events come back after 2 s: long after the new event below is sent, so
        # a watermark that covered the dropped resends early would delete them unseen.
        running(Publisher(outbox, config, client_id="edge-a", retry_refused_s=2.0)) as publisher,
    ):
        covered = fill(outbox, publisher, range(5))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S)
        sink.acking = False
        taken = fill(outbox, publisher, range(5, 12))
        sink.wait_for_events(12)
        wait_until(lambda: publisher.stats.acknowledged == 12)
        # Central crashed before it committed what it had received: it forgets the events
        # and their seqs (it keeps watermark 5), so only what arrives again after the
        # restart can move its watermark.
        sink.go_offline()
        sink.forget()
        mqtt_broker.stop()
        shutil.rmtree(mqtt_broker.directory / "data")  # sessions, queues, retained: all gone
        (mqtt_broker.directory / "data").mkdir()
        sink.acking = True
        unrouted_before = publisher.stats.unrouted
        mqtt_broker.start()
        # The edge resends the 7 uncovered events to a broker nobody is subscribed to yet:
        # all dropped, and they stay in the outbox.
        wait_until(
            lambda: publisher.stats.unrouted - unrouted_before >= len(taken), DELIVERY_TIMEOUT_S
        )
        sink.come_back()
        sink.wait_subscribed(2)
        # A new event arrives first; seq 13 alone must not cover 6-12.
        later = fill(outbox, publisher, range(12, 13))
        assert publisher.wait_drained(DELIVERY_TIMEOUT_S), publisher.stats
        received = sink.wait_for_events(len(taken) + 1)
        status = sink.wait_for_status("online")  # the retained status is back too
    assert {str(event.event_id) for event in received} == {*taken, *later}
    assert {event.seq for event in received} == set(range(6, 14))
    assert set(covered).isdisjoint(str(event.event_id) for event in received)
    assert outbox.depth() == 0
    assert status.state == "online"


def test_a_watermark_beyond_the_last_seq_deletes_nothing(
    mqtt_broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    with (
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="edge-a")) as publisher,
    ):
        sink.acking = False
        fill(outbox, publisher, range(3))
        sink.wait_for_events(3)
        sink.publish_watermark(STATION, 500)  # an outbox replaced under a known station
        wait_until(lambda: publisher.stats.bad_acks == 1)
        sink._client.publish(topic(STATION, Channel.ACK), b"{not json", qos=1, retain=True)
        wait_until(lambda: publisher.stats.bad_acks == 2)
        assert outbox.depth() == 3
    assert any("beyond this station's last seq 3" in r.getMessage() for r in caplog.records)


def test_the_status_is_refreshed_with_its_figures(mqtt_broker: LocalBroker, tmp_path: Path) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    calls: list[int] = []

    def figures() -> dict[str, float]:
        calls.append(1)
        return {"reads": float(len(calls)), "read_rate": 0.98}

    with (
        EventSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
        Outbox(tmp_path / "outbox.db", STATION) as outbox,
        running(Publisher(outbox, config, client_id="e", status=figures, status_interval_s=1.0)),
    ):
        wait_until(lambda: len([s for s in sink.statuses if s.state == "online"]) >= 2)
        online = [status for status in sink.statuses if status.state == "online"]
    offline = sink.statuses[-1]
    assert online[0].metrics == {"reads": 1.0, "read_rate": 0.98}
    assert online[1].metrics["reads"] == 2.0
    assert online[1].at > online[0].at
    assert offline.state == "offline"
    assert offline.metrics["reads"] == len(calls)


def test_the_batch_topic_reaches_the_listener_on_every_connect(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config = mqtt_config(mqtt_broker, mqtt_broker.station(str(STATION)))
    announced = b'{"retained": "before the station connects"}'
    heard: list[bytes] = []
    with AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink:
        sink.publish_batch(STATION, announced)
        with (
            Outbox(tmp_path / "outbox.db", STATION) as outbox,
            running(Publisher(outbox, config, client_id="e", on_batch=heard.append)),
        ):
            wait_until(lambda: len(heard) == 1)
            mqtt_broker.stop()
            mqtt_broker.start()  # it keeps retained messages: the station hears it again
            wait_until(lambda: len(heard) == 2)
            sink.wait_subscribed(2)
            sink.publish_batch(STATION, None)
            wait_until(lambda: len(heard) == 3)
    assert heard == [announced, announced, b""]
