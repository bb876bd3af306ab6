"""The publisher's drain thread: outbox I/O and publishing, never on paho's thread.

Each pass takes up what paho's thread noted (PUBACKs, a new connection, central's
watermark), deletes what the watermark covers, refreshes the retained status when due
and fills the in-flight window with what the
:class:`~linetrace.edge.delivery.resend_plan.DeliveryPlan` says goes next.

Central's return: central publishes every station's watermark after each (re)connect,
on the connection where it has just subscribed to the events again. A watermark that
arrives live (not the retained copy a new subscription of the edge is handed) therefore
says central is subscribed now, so what the broker dropped for want of a subscriber is
offered again at once instead of after ``retry_refused_s``.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import MQTTErrorCode
from paho.mqtt.reasoncodes import ReasonCode

from linetrace.broker.contract.messages import StationStatus, live_state
from linetrace.edge.delivery.link_state import LinkState
from linetrace.edge.delivery.outbox import Outbox, OutboxError
from linetrace.edge.delivery.resend_plan import DeliveryPlan

__all__ = ["Drainer", "StatusSource"]

logger = logging.getLogger(__name__)

# The drain thread wakes this often even when nobody nudges it: a safety net that bounds
# the delay a lost wake-up could cause, at the cost of one indexed query per second.
IDLE_WAKE_S = 1.0
# MQTT v5 PUBACK reason 0x10: the broker took the message and dropped it, as nobody was
# subscribed (central down without its persistent session). Success to MQTT, loss to us.
NO_MATCHING_SUBSCRIBERS = 0x10

_ACCEPTED = (MQTTErrorCode.MQTT_ERR_SUCCESS, MQTTErrorCode.MQTT_ERR_NO_CONN)

StatusSource = Callable[[], dict[str, float]]


class Drainer:
    """Runs the drain thread's passes (:meth:`run`) until the state says stopping."""

    def __init__(
        self,
        state: LinkState,
        client: mqtt.Client,
        outbox: Outbox,
        plan: DeliveryPlan,
        *,
        events_topic: str,
        status_topic: str,
        ack_topic: str,
        tz: tzinfo,
        retry_refused_s: float,
        status: StatusSource | None,
        status_interval_s: float,
    ) -> None:
        self._state = state
        self._client = client
        self._outbox = outbox
        self._plan = plan
        self._events_topic = events_topic
        self._status_topic = status_topic
        self._ack_topic = ack_topic
        self._tz = tz
        self._retry_refused_s = retry_refused_s
        self._status_source = status
        self._status_interval_s = status_interval_s
        self._sent: dict[int, int] = {}  # mid -> seq, across connections, until answered
        self._seen_generation = 0
        self._status_at: float | None = None  # when the drain thread last sent the status
        self._refusals_logged: set[tuple[int, str]] = set()  # (connection, kind) logged
        self._refused_watermarks: set[int] = set()

    def run(self) -> None:
        state = self._state
        while True:
            with state.wake:
                state.wake.wait_for(lambda: state.woken or state.stopping, IDLE_WAKE_S)
                state.woken = False
                acks, state.acks = state.acks, []
                heard, state.heard_watermark = state.heard_watermark, None
                central_live, state.central_live = state.central_live, False
                stopping, closing = state.stopping, state.closing
                connected, generation, limit = (
                    state.connected,
                    state.generation,
                    state.window_limit,
                )
            self._settle(acks)
            if heard is not None:
                self._apply_watermark(heard)
            if central_live:
                self._offer_unrouted()
            if stopping:
                return
            if generation != self._seen_generation and not self._start_connection(generation):
                continue  # the outbox cannot be read; the next pass tries again
            if connected and not closing:
                self._send_status_when_due()
                self._plan.due_again()
                self._fill(limit)
            self._note_plan()

    def figures(self) -> dict[str, float]:
        return self._status_source() if self._status_source is not None else {}

    def status(
        self, state: Literal["online", "degraded", "offline"], figures: dict[str, float]
    ) -> bytes:
        """The retained status message's payload."""
        return StationStatus(state=state, at=datetime.now(self._tz), metrics=figures).to_payload()

    def _start_connection(self, generation: int) -> bool:
        """A new connection: paho's in-flight copies are not trusted and the broker may have
        lost what it took, so the plan starts both lanes afresh. Old mids stay in _sent for
        late PUBACKs."""
        try:
            self._plan.start_connection()
        except OutboxError as exc:
            logger.error("cannot read the outbox: %s; trying again shortly", exc)
            return False
        self._seen_generation = generation
        self._refusals_logged.clear()
        self._status_at = None
        with self._state.wake:
            self._state.ready_generation = generation
            self._state.wake.notify_all()
        return True

    def _settle(self, acks: list[tuple[int, ReasonCode]]) -> None:
        taken = 0
        for mid, reason in acks:
            seq = self._sent.pop(mid, None)
            if seq is None:
                continue  # a status message
            if reason.is_failure or reason.value == NO_MATCHING_SUBSCRIBERS:
                self._plan.refused(seq, unrouted=reason.value == NO_MATCHING_SUBSCRIBERS)
                self._note_refusal(seq, reason)
            else:
                self._plan.taken(seq)
                taken += 1
        with self._state.wake:
            self._state.acknowledged += taken

    def _apply_watermark(self, watermark: int) -> None:
        state = self._state
        try:
            last_seq = self._outbox.last_seq
        except OutboxError as exc:
            logger.error("watermark %d not applied yet: %s", watermark, exc)
            with state.wake:
                state.heard_watermark = max(state.heard_watermark or 0, watermark)
            return
        if watermark > last_seq:
            if watermark not in self._refused_watermarks:
                self._refused_watermarks.add(watermark)
                logger.error(
                    "central's watermark %d on %s is beyond this station's last seq %d: the "
                    "outbox was replaced or belongs to another station; nothing is deleted on it",
                    watermark,
                    self._ack_topic,
                    last_seq,
                )
            with state.wake:
                state.bad_acks += 1
            return
        if not self._plan.cover(watermark):
            return
        try:
            removed = self._outbox.remove_through(watermark)
        except OutboxError as exc:
            # Those events stay stored; the next watermark deletes them with its own.
            logger.error("cannot delete events up to seq %d: %s", watermark, exc)
            return
        logger.debug("central covers seq %d: %d events deleted", watermark, removed)
        with state.wake:
            state.covered += removed
            state.watermark = watermark

    def _offer_unrouted(self) -> None:
        queued = self._plan.subscriber_back()
        if queued:
            logger.info(
                "central is subscribed again (a live watermark on %s): offering the %d "
                "events nobody was subscribed to again now",
                self._ack_topic,
                queued,
            )

    def _note_refusal(self, seq: int, reason: ReasonCode) -> None:
        unrouted = reason.value == NO_MATCHING_SUBSCRIBERS
        with self._state.wake:
            if unrouted:
                self._state.unrouted += 1
            else:
                self._state.rejected += 1
            key = (self._state.generation, "unrouted" if unrouted else "rejected")
        if key in self._refusals_logged:
            logger.debug("broker refused event seq %d: %s", seq, reason)
            return
        self._refusals_logged.add(key)
        if unrouted:
            # Central restarting, or resubscribing after a broker restart: routine, and
            # over as soon as central's next watermark arrives.
            logger.warning(
                "broker had no subscriber for event seq %d on %s (is central running?); it "
                "stays in the outbox and is offered again when central's watermark shows it "
                "is back, or in %.0f s (further cases on this connection are only counted)",
                seq,
                self._events_topic,
                self._retry_refused_s,
            )
            return
        logger.error(
            "broker did not take event seq %d on %s, refused: %s; it stays in the outbox and "
            "is offered again every %.0f s (further cases on this connection are only counted)",
            seq,
            self._events_topic,
            reason,
            self._retry_refused_s,
        )

    def _fill(self, limit: int) -> None:
        try:
            outgoing = self._plan.next(limit)
        except OutboxError as exc:
            logger.error("cannot read the outbox: %s; trying again shortly", exc)
            return
        for position, event in enumerate(outgoing):
            info = self._client.publish(self._events_topic, event.payload, qos=1)
            if info.rc not in _ACCEPTED:
                logger.error(
                    "paho refused event seq %d: %s; trying again shortly",
                    event.seq,
                    mqtt.error_string(info.rc),
                )
                for unsent in outgoing[position:]:
                    self._plan.lost(unsent.seq)
                return
            self._sent[info.mid] = event.seq
            with self._state.wake:
                self._state.published += 1
                self._state.resent += event.resend

    def _note_plan(self) -> None:
        with self._state.wake:
            self._state.inflight = self._plan.inflight
            self._state.uncovered = self._plan.uncovered
            self._state.passes += 1  # wait_drained() re-checks the depth
            self._state.wake.notify_all()

    def _send_status_when_due(self) -> None:
        now = time.monotonic()
        if self._status_at is not None and now - self._status_at < self._status_interval_s:
            return
        self._status_at = now
        figures = self.figures()
        self._client.publish(
            self._status_topic, self.status(live_state(figures), figures), qos=1, retain=True
        )
