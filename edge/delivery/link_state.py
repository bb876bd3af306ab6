"""What the publisher's threads share: the link's state and counters, under one condition.

Paho's network thread (:mod:`~linetrace.edge.delivery.session`) notes connections, acks
and watermarks here; the drain thread (:mod:`~linetrace.edge.delivery.drain`) takes them
up and writes its counters back; callers read :class:`PublisherStats` and wait on it.
Every field is guarded by ``wake``, and whoever changes what the drain thread waits for
sets ``woken`` and notifies.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from paho.mqtt.reasoncodes import ReasonCode

__all__ = ["LinkState", "PublisherStats"]


@dataclass(frozen=True, slots=True)
class PublisherStats:
    """Counters since start, for logs, the status message and metrics."""

    connected: bool
    connects: int
    disconnects: int
    published: int  # PUBLISH packets handed to paho, resends included
    resent: int  # of those, events this process had published before
    acknowledged: int  # success PUBACKs for events: the broker took them (paces only)
    covered: int  # events central's watermark covered, deleted from the outbox
    rejected: int  # PUBACKs with a failure reason code; those events stay in the outbox
    unrouted: int  # PUBACKs saying nobody was subscribed; those events stay too
    inflight: int
    uncovered: int  # events the broker took that central has not covered yet
    watermark: int  # the highest seq central covers, as last heard (0 before)
    bad_acks: int  # ack messages refused as unreadable or impossible


@dataclass(eq=False)
class LinkState:
    """The state shared by paho's thread, the drain thread and callers; guarded by ``wake``."""

    window_limit: int  # events in flight at most on this connection
    wake: threading.Condition = field(default_factory=threading.Condition)
    woken: bool = False
    connected: bool = False
    closing: bool = False
    stopping: bool = False
    generation: int = 0  # connections accepted so far: each one starts afresh
    acks: list[tuple[int, ReasonCode]] = field(default_factory=list)
    heard_watermark: int | None = None  # newest from the ack topic, not yet applied
    central_live: bool = False  # a watermark came live (central subscribed), not yet taken up
    connects: int = 0
    disconnects: int = 0
    bad_acks: int = 0
    subscribed_at: float | None = None  # first SUBACK (monotonic)
    ready_generation: int = 0  # the connection the drain thread has taken up
    passes: int = 0  # drain passes finished, so waiters can tell one went by
    # Written by the drain thread.
    published: int = 0
    resent: int = 0
    acknowledged: int = 0
    covered: int = 0
    rejected: int = 0
    unrouted: int = 0
    inflight: int = 0
    uncovered: int = 0
    watermark: int = 0

    def wake_drain(self) -> None:
        """Wake the drain thread; the caller holds ``wake``."""
        self.woken = True
        self.wake.notify_all()

    def stats(self) -> PublisherStats:
        with self.wake:
            return PublisherStats(
                connected=self.connected,
                connects=self.connects,
                disconnects=self.disconnects,
                published=self.published,
                resent=self.resent,
                acknowledged=self.acknowledged,
                covered=self.covered,
                rejected=self.rejected,
                unrouted=self.unrouted,
                inflight=self.inflight,
                uncovered=self.uncovered,
                watermark=self.watermark,
                bad_acks=self.bad_acks,
            )
