"""Delivering the outbox to central through the broker: MQTT v5, QoS 1, nothing lost.

Three threads meet here, and none waits on another for long (what they share is
:class:`~linetrace.edge.delivery.link_state.LinkState`):

* the agent's loop only appends to the outbox and calls :meth:`Publisher.nudge`;
* paho's network thread (``loop_start``) connects, reconnects with backoff, keeps the link
  alive, reads PUBACKs and the station's ``ack`` and ``batch`` topics; its callbacks
  (:mod:`~linetrace.edge.delivery.session`) only note what happened and wake the drain
  thread;
* the drain thread (:mod:`~linetrace.edge.delivery.drain`) reads the outbox, publishes,
  deletes what central covered and sends the retained status, so disk I/O never stalls
  the network thread.

Delivery rule (two acknowledgements): the broker's PUBACK only paces the in-flight window;
an event leaves the outbox only when central's retained ``ack`` watermark covers its
``seq``. What the broker took but central has not covered within ``resend_timeout_s`` is
sent again with the same ``event_id``, and every new connection sends again whatever is
uncovered, so a broker that restarted empty or dropped a full queue loses nothing. Which
event goes next (live passages ahead of an old backlog, refusals retried later) is
:class:`~linetrace.edge.delivery.resend_plan.DeliveryPlan`'s business. A PUBACK with a failure code
(e.g. 135, not authorised) or with 16 (no matching subscribers: the broker dropped it) is
counted and logged, and the event is offered again after ``retry_refused_s``; one dropped
for want of a subscriber goes again as soon as a live watermark shows central is
subscribed again (central republishes every watermark after each reconnect), so a routine
broker restart stalls the watermark for a moment, not for ``retry_refused_s``.

Known limitations:

* Central's watermark is the highest *contiguous* committed ``seq``: one event lost
  between broker and central holds it back, and everything after that event is resent
  once ``resend_timeout_s`` passes (central drops the duplicates by ``event_id``).
* After a reconnect an event can reach central more than once (paho retries its in-flight
  messages and the outbox is resent). Central is idempotent on ``event_id``, so this costs
  bandwidth, not correctness.
* A watermark above the last ``seq`` this station ever made means the outbox file was
  replaced under a station central already knows; it is refused with an error (deleting
  on it would drop events never delivered) and an operator must reconcile the two.
* A station central has never confirmed anything of has no watermark to be republished:
  its events dropped for want of a subscriber wait for the ``retry_refused_s`` retry.
* The retained ``offline`` last will carries the time the connection was made and no
  figures, because a will is fixed before anyone knows when the link will die.
* With a wrong TLS CA, paho leaves the socket of each failed handshake to the garbage
  collector (a ResourceWarning, no lasting leak);
  :func:`~linetrace.edge.delivery.mqtt_link.check_broker` shakes hands itself first and
  says why.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, tzinfo

from linetrace.broker.client import MqttSettings, connect_properties, make_client
from linetrace.broker.contract.topics import Channel, topic
from linetrace.edge.delivery.drain import Drainer, StatusSource
from linetrace.edge.delivery.link_state import LinkState, PublisherStats
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.delivery.resend_plan import DeliveryPlan
from linetrace.edge.delivery.session import BatchListener, BrokerSession

__all__ = ["MAX_INFLIGHT", "Publisher"]

logger = logging.getLogger(__name__)

# Events handed to paho and not yet acknowledged, at most. It bounds paho's memory and the
# duplicates a reconnect can cause, and still covers the bandwidth-delay product of a
# 200 ms cellular link at 500 events/s, 25 times line speed; on a LAN it never binds.
MAX_INFLIGHT = 100
# How long an event the broker refused (or had no subscriber for) waits before it is offered
# again: a refusal is a provisioning or ACL problem and a missing subscriber is central
# being down, both fixed in minutes, so twice a minute notices the fix soon. A broker that
# refuses a whole window in a row refuses the station, not an event: sending pauses until
# the next retry, so it sees at most two windows per station per half minute.
RETRY_REFUSED_S = 30.0
# How long an event the broker took may stay uncovered by central's watermark before it is
# sent again. Central commits and acknowledges within about a second, and a restarting
# central catches up within seconds more, so a healthy system never resends; an event a
# broker lost (restarted empty, dropped a full queue) goes out again within half a minute,
# long before a full outbox could cost anything.
RESEND_TIMEOUT_S = 30.0
# How often the retained status is refreshed unless the caller says otherwise.
STATUS_INTERVAL_S = 5.0
# How long a clean stop waits for the broker to take the retained offline status: well
# inside the 5 s shutdown grace, and a LAN broker answers in milliseconds.
STATUS_ACK_TIMEOUT_S = 2.0


class Publisher:
    """Drains one station's outbox to the broker; see the module docstring for the rules."""

    def __init__(
        self,
        outbox: Outbox,
        config: MqttSettings,
        *,
        client_id: str,
        tz: tzinfo = UTC,
        max_inflight: int = MAX_INFLIGHT,
        retry_refused_s: float = RETRY_REFUSED_S,
        resend_timeout_s: float = RESEND_TIMEOUT_S,
        status: StatusSource | None = None,
        status_interval_s: float = STATUS_INTERVAL_S,
        on_batch: BatchListener | None = None,
    ) -> None:
        """``status()`` gives the figures of each status message; ``on_batch(payload)``
        gets every message on the station's ``batch`` topic (on paho's thread)."""
        self._outbox = outbox
        self._config = config
        station = outbox.station
        self._events_topic = topic(station, Channel.EVENTS)
        self._status_topic = topic(station, Channel.STATUS)
        ack_topic = topic(station, Channel.ACK)
        self._state = LinkState(window_limit=max_inflight)
        self._client = make_client(config, client_id=client_id)
        self._client.max_inflight_messages_set(max_inflight)
        self._drainer = Drainer(
            self._state,
            self._client,
            outbox,
            DeliveryPlan(
                outbox, resend_timeout_s=resend_timeout_s, retry_refused_s=retry_refused_s
            ),
            events_topic=self._events_topic,
            status_topic=self._status_topic,
            ack_topic=ack_topic,
            tz=tz,
            retry_refused_s=retry_refused_s,
            status=status,
            status_interval_s=status_interval_s,
        )
        offline = self._drainer.status("offline", {})
        self._client.will_set(self._status_topic, offline, qos=1, retain=True)
        BrokerSession(
            self._state,
            config,
            max_inflight=max_inflight,
            ack_topic=ack_topic,
            batch_topic=topic(station, Channel.BATCH),
            on_batch=on_batch,
        ).attach(self._client)
        self._thread = threading.Thread(
            target=self._drainer.run, name="linetrace-publish", daemon=True
        )

    def start(self) -> None:
        """Connect in the background and start draining; returns at once."""
        logger.info(
            "publishing %s to %s:%d as %s",
            self._events_topic,
            self._config.host,
            self._config.port,
            self._config.username,
        )
        self._client.connect_async(
            self._config.host,
            self._config.port,
            self._config.keepalive_s,
            clean_start=True,
            properties=connect_properties(self._config),
        )
        self._client.loop_start()
        self._thread.start()

    def nudge(self) -> None:
        """Tell the drain thread that new events are in the outbox."""
        with self._state.wake:
            self._state.wake_drain()

    def wait_drained(self, timeout: float) -> bool:
        """Wait until central covers everything stored and the broker has answered every
        publish (its last PUBACK can come after central's watermark); False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            with self._state.wake:
                passes, inflight = self._state.passes, self._state.inflight
            if inflight == 0 and self._outbox.depth() == 0:
                return True
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            self._wait_for_pass(passes, remaining)

    def _wait_for_pass(self, passes: int, timeout: float) -> None:
        state = self._state
        with state.wake:
            state.wake.wait_for(lambda: state.passes != passes, timeout)

    def wait_connected(self, timeout: float) -> bool:
        """Wait until the broker has accepted the connection and the drain thread has taken
        it up (events stored from then on are live); False on timeout."""
        state = self._state
        with state.wake:
            return state.wake.wait_for(
                lambda: state.connected and state.ready_generation == state.generation, timeout
            )

    def stop(self) -> None:
        """Publish the retained offline status, disconnect, and stop the threads.

        Whatever central has not covered stays in the outbox for the next start.
        """
        state = self._state
        with state.wake:
            state.closing = True
            connected = state.connected
            state.stopping = True
            state.wake.notify_all()
        if self._thread.is_alive():
            self._thread.join()
        if connected:
            offline = self._drainer.status("offline", self._drainer.figures())
            info = self._client.publish(self._status_topic, offline, qos=1, retain=True)
            try:
                info.wait_for_publish(STATUS_ACK_TIMEOUT_S)
            except (RuntimeError, ValueError) as exc:
                logger.warning("offline status not delivered: %s", exc)
        self._client.disconnect()
        self._client.loop_stop()

    @property
    def subscribed_at(self) -> float | None:
        """When (``time.monotonic``) the broker first confirmed the ack/batch subscription.

        The retained batch, if any, follows right behind that confirmation.
        """
        with self._state.wake:
            return self._state.subscribed_at

    @property
    def stats(self) -> PublisherStats:
        return self._state.stats()
