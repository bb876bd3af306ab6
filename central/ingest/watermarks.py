"""Publishing each station's ``ack`` watermark, retained, once its events are committed.

The edge deletes from its outbox what the watermark covers, so a watermark must never be
published before its commit, nor move back: this instance remembers what it last
published per station and publishes only a higher value, except after a reconnect
(:meth:`WatermarkPublisher.forget`), when the broker's retained copy is re-sent whole.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime

from linetrace.broker.contract.messages import AckWatermark
from linetrace.broker.contract.topics import Channel, StationId, topic
from linetrace.central.derive.progress import Progress
from linetrace.central.ingest.stats import IngestCounters

__all__ = ["WatermarkPublisher"]


class WatermarkPublisher:
    """The watermarks this instance published, and the publishing of new ones.

    Used by the writer thread alone, so it needs no lock.
    """

    def __init__(
        self,
        publish_retained: Callable[[str, bytes], bool],
        connected: Callable[[], bool],
        counters: IngestCounters,
    ) -> None:
        self._publish_retained = publish_retained
        self._connected = connected
        self._counters = counters
        # The watermark this instance last published per station.
        self._published: dict[StationId, int] = {}

    def publish(self, watermarks: Mapping[StationId, int]) -> None:
        """Publish each station's watermark, retained, on its ``ack`` topic (QoS 1)."""
        if not self._connected():
            return  # the next connect republishes every watermark
        now = datetime.now(UTC)
        for station, seq in sorted(watermarks.items()):
            if seq < 1 or self._published.get(station, -1) >= seq:
                continue
            payload = AckWatermark(seq=seq, at=now).to_payload()
            if self._publish_retained(topic(station, Channel.ACK), payload):
                self._published[station] = seq
                self._counters.add(acks_published=1)

    def forget(self) -> None:
        """After a connect: the next sweep publishes every watermark again."""
        self._published.clear()

    def publish_moved(self, progress: Mapping[StationId, Progress]) -> None:
        """Publish the watermarks that differ from what this instance last published.

        They moved elsewhere (another instance, a replay), or were never published since
        the last :meth:`forget`.
        """
        moved = {
            station: p.watermark
            for station, p in progress.items()
            if self._published.get(station) != p.watermark
        }
        # Publishing a lower value than this instance last did would move the retained
        # watermark back; only a reconnect (which cleared the memory) re-sends everything.
        self.publish(moved)
