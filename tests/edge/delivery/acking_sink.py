"""A stand-in for central that also confirms: the retained ``ack`` watermark, and batches.

Like central, it publishes for each station the highest ``seq`` up to which it has
received every event, retained, with the "central" service credentials (the only ones the
ACL lets write a station's ``ack`` and ``batch`` topics). Like central, it publishes every
watermark again right after each (re)subscription, on the same connection, which tells a
station that central is subscribed again. ``acking = False`` makes it a central that
receives but never confirms.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import paho.mqtt.client as mqtt

from linetrace.broker.contract.messages import AckWatermark, BatchAnnouncement
from linetrace.broker.contract.topics import Channel, StationId, parse_topic, topic
from tests.edge.delivery.event_sink import ANSWER_TIMEOUT_S, EventSink


class AckingSink(EventSink):
    """Collects events like :class:`EventSink` and confirms them like central."""

    acking = True

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._received: dict[StationId, set[int]] = {}
        self.watermarks: dict[StationId, int] = {}
        self._ack_lock = threading.Lock()

    def _on_message(self, client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        super()._on_message(client, userdata, message)
        station, channel = parse_topic(message.topic)
        if channel is not Channel.EVENTS:
            return
        with self._ack_lock:
            seqs = self._received.setdefault(station, set())
            seqs.add(self.events[-1].seq)
            if self.acking:
                self._confirm(station)

    def _subscribe(self, client: mqtt.Client) -> None:
        super()._subscribe(client)
        with self._ack_lock:
            for station, seq in list(self.watermarks.items()):
                if seq >= 1:  # central has nothing to say of a station it never covered
                    self.publish_watermark(station, seq)

    def forget(self) -> None:
        """Crash before committing: lose every event received and what it knew of their
        seqs; keep the watermarks already published (what was committed). After this, a
        watermark moves past a seq only once that event has arrived again."""
        with self._ack_lock:
            super().forget()
            self._received.clear()

    def confirm_all(self) -> None:
        """Publish the watermarks now (e.g. after ``acking`` was off)."""
        with self._ack_lock:
            for station in list(self._received):
                self._confirm(station)

    def _confirm(self, station: StationId) -> None:
        seqs = self._received[station]
        watermark = self.watermarks.get(station, 0)
        while watermark + 1 in seqs:
            watermark += 1
        self.watermarks[station] = watermark
        self.publish_watermark(station, watermark)

    def publish_watermark(self, station: StationId, seq: int) -> None:
        payload = AckWatermark(seq=seq, at=datetime.now(UTC)).to_payload()
        self._client.publish(topic(station, Channel.ACK), payload, qos=1, retain=True)

    def publish_batch(self, station: StationId, batch: BatchAnnouncement | bytes | None) -> None:
        """Announce ``batch`` retained (None clears it; bytes go out as they are)."""
        payload = (
            b"" if batch is None else batch if isinstance(batch, bytes) else batch.to_payload()
        )
        info = self._client.publish(topic(station, Channel.BATCH), payload, qos=1, retain=True)
        info.wait_for_publish(ANSWER_TIMEOUT_S)
