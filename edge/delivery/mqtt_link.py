"""One-shot looks at the broker for ``edge check``: can the station log in, what is retained.

:func:`check_broker` and :func:`read_retained` connect once with the shared client
(:func:`linetrace.broker.client.make_client`) and say in a
:class:`~linetrace.errors.BrokerError` why the broker cannot be used; the publisher's
long-lived connection is :mod:`~linetrace.edge.delivery.publisher`'s.
"""

from __future__ import annotations

import logging
import queue
import socket
import ssl
import threading
import time
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.reasoncodes import ReasonCode

from linetrace.broker.client import MqttSettings, make_client
from linetrace.errors import BrokerError

__all__ = ["CHECK_TIMEOUT_S", "check_broker", "read_retained"]

logger = logging.getLogger(__name__)

# How long `check_broker` waits for the broker's answer after the TCP connection is up.
CHECK_TIMEOUT_S = 5.0
# A broker sends a topic's retained message right behind its SUBACK; on a LAN it arrives
# within milliseconds, so half a second after the SUBACK means there is none.
RETAINED_SETTLE_S = 0.5


def check_broker(config: MqttSettings, client_id: str, timeout: float = CHECK_TIMEOUT_S) -> None:
    """Connect once and disconnect: raises :class:`BrokerError` saying why it failed.

    Use a client id other than the running agent's, or the broker disconnects the agent.
    """
    if config.tls:
        _check_tls(config, timeout)
    client = make_client(config, client_id=client_id)
    answers: queue.SimpleQueue[ReasonCode] = queue.SimpleQueue()

    def on_connect(
        _client: mqtt.Client, _data: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        answers.put(reason)

    client.on_connect = on_connect
    client.connect_timeout = timeout
    try:
        client.connect(config.host, config.port, config.keepalive_s, clean_start=True)
    except (OSError, ssl.SSLError) as exc:
        client.loop_stop()
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc
    client.loop_start()
    try:
        reason = answers.get(timeout=timeout)
    except queue.Empty:
        raise BrokerError(
            f"{config.host}:{config.port} accepted TCP but sent no MQTT answer in {timeout:.0f} s"
        ) from None
    finally:
        client.disconnect()
        client.loop_stop()
    if reason.is_failure:
        raise BrokerError(
            f"{config.host}:{config.port} refused user {config.username!r}: {reason} "
            "(check mqtt.username and LINETRACE_EDGE_MQTT__PASSWORD)"
        )


def read_retained(
    config: MqttSettings,
    client_id: str,
    topics: list[str],
    timeout: float = CHECK_TIMEOUT_S,
    settle_s: float = RETAINED_SETTLE_S,
) -> dict[str, bytes]:
    """The retained messages on ``topics`` (absent ones left out), read once and left.

    Raises :class:`BrokerError` when the broker cannot be reached or does not answer.
    """
    client = make_client(config, client_id=client_id)
    found: dict[str, bytes] = {}
    subscribed = threading.Event()

    def on_connect(
        client: mqtt.Client, _data: Any, _flags: Any, reason: ReasonCode, _props: Any
    ) -> None:
        if not reason.is_failure:
            client.subscribe([(name, 1) for name in topics])

    def on_subscribe(*_args: Any) -> None:
        subscribed.set()

    def on_message(_client: mqtt.Client, _data: Any, message: mqtt.MQTTMessage) -> None:
        if message.retain:
            found[message.topic] = bytes(message.payload)

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_message = on_message
    client.connect_timeout = timeout
    try:
        client.connect(config.host, config.port, config.keepalive_s, clean_start=True)
    except (OSError, ssl.SSLError) as exc:
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc
    client.loop_start()
    try:
        if not subscribed.wait(timeout):
            raise BrokerError(
                f"{config.host}:{config.port} did not confirm a subscription in {timeout:.0f} s"
            )
        time.sleep(settle_s)
    finally:
        client.disconnect()
        client.loop_stop()
    return dict(found)


def _check_tls(config: MqttSettings, timeout: float) -> None:
    """One TLS handshake of our own, for a precise reason and a socket that is closed.

    Paho leaves its socket to the garbage collector when a handshake fails.
    """
    ca_file = str(config.tls_ca_file) if config.tls_ca_file is not None else None
    try:
        context = ssl.create_default_context(cafile=ca_file)
        with (
            socket.create_connection((config.host, config.port), timeout=timeout) as raw,
            context.wrap_socket(raw, server_hostname=config.host),
        ):
            pass
    except ssl.SSLError as exc:
        raise BrokerError(f"TLS with {config.host}:{config.port} failed: {exc}") from exc
    except OSError as exc:
        raise BrokerError(f"cannot reach {config.host}:{config.port}: {exc}") from exc
