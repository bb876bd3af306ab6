"""How any linetrace process connects to the broker: one settings model, one client factory.

Edge agents, central, the benchmarks and the tests all build their paho client here, so
the choices that matter on a factory network are made once: MQTT v5, credentials, TLS,
a reconnect backoff that does not hammer a broker that stays down, and packets sent at
once rather than held back by Nagle's algorithm.
"""

from __future__ import annotations

import logging
import socket
import ssl
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion, MQTTProtocolVersion
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import Field, SecretStr, field_validator, model_validator

from linetrace.errors import BrokerError
from linetrace.settings import Section

__all__ = [
    "RECONNECT_MAX_DELAY_S",
    "RECONNECT_MIN_DELAY_S",
    "MqttSettings",
    "connect_properties",
    "make_client",
]

logger = logging.getLogger(__name__)

# Reconnect backoff: the first retry after 1 s (a broker restart takes about that), doubling
# up to 30 s so that a fleet of stations does not hammer a broker that stays down.
RECONNECT_MIN_DELAY_S = 1
RECONNECT_MAX_DELAY_S = 30

# What paho logs at ERROR when a connection merely ends: its loop finding the socket gone
# ("Client is not connected ... MQTT_CS_DISCONNECTED", after every lost connection and at
# every clean stop) and a read cut short by a broker that went away. Both are routine (the
# broker restarts, the link blips; each client's own callbacks report the loss, at WARNING)
# and nothing an operator must act on, so they are logged lower. Anything else paho logs
# at ERROR (an exception in a callback, a protocol error) stays an error.
_ROUTINE_DISCONNECTS = (
    ("Client is not connected", logging.DEBUG),
    ("failed to receive on socket", logging.INFO),
    ("timeout on socket", logging.INFO),
)


class MqttSettings(Section):
    """The broker connection, the same keys for every process (``[mqtt]`` in its TOML)."""

    host: str = Field(default="localhost", description="Broker host name or address.")
    port: int = Field(
        default=1883, ge=1, le=65535, description="Broker TCP port (8883 is usual with TLS)."
    )
    username: str | None = Field(
        default=None,
        description="Broker user. A station defaults to its id SITE/LINE/STATION (the user "
        "station provisioning creates); central to its service user.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Broker password; set it in the environment (…_MQTT__PASSWORD), not the file.",
    )
    client_id: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="MQTT client id; each process has a default. Two clients with one id "
        "disconnect each other, so keep it unique and stable across restarts. The broker "
        "`linetrace broker init` configures replaces it with the account name "
        "(use_username_as_clientid); it matters on other brokers.",
    )
    tls: bool = Field(
        default=False,
        description="Connect with TLS, verifying the broker against tls_ca_file (or the "
        "system's trusted certificates when that is unset).",
    )
    tls_ca_file: Path | None = Field(
        default=None, description="PEM file of the CA that signed the broker's certificate."
    )
    keepalive_s: int = Field(
        # Half a minute notices a dead link within 45 s (the broker waits 1.5 times this
        # before publishing a last will) for one small packet per half minute per client.
        default=30,
        ge=5,
        le=3600,
        description="Seconds between keepalive pings; a silent peer is declared lost after "
        "1.5 times this (the broker then publishes the client's last will).",
    )
    session_expiry_s: int = Field(
        # 0 is MQTT v5's "the session ends with the connection": right for a station,
        # whose outbox re-sends whatever is unconfirmed. Central keeps its session so the
        # broker queues events for it while it restarts.
        default=0,
        ge=0,
        description="How long the broker keeps this client's session and queued messages "
        "after it disconnects (0: not at all).",
    )

    @model_validator(mode="after")
    def _ca_needs_tls(self) -> MqttSettings:
        if self.tls_ca_file is not None and not self.tls:
            raise ValueError("tls_ca_file is set but tls is false; set tls = true to use it")
        return self

    @field_validator("tls_ca_file")
    @classmethod
    def _ca_exists(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CA file {value} does not exist")
        return value

    @property
    def password_text(self) -> str | None:
        return self.password.get_secret_value() if self.password is not None else None


def make_client(
    settings: MqttSettings,
    *,
    client_id: str | None = None,
    manual_ack: bool = False,
    reconnect_on_failure: bool = True,
    log: logging.Logger | None = None,
) -> mqtt.Client:
    """A paho client for ``settings``: MQTT v5, credentials, TLS and reconnect backoff set.

    ``client_id`` overrides the settings' id (a process that derives it, such as a
    station from its id); ``manual_ack`` leaves PUBACKs to the caller, for a receiver that
    acknowledges only what it has committed. ``reconnect_on_failure=False`` makes a lost
    or refused connection final, for a client that reports it instead (a test probe
    asserting on the broker's answer). Raises :class:`BrokerError` for a CA file
    that cannot be loaded.
    """
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id or settings.client_id or "",
        protocol=MQTTProtocolVersion.MQTTv5,
        manual_ack=manual_ack,
        reconnect_on_failure=reconnect_on_failure,
    )
    paho_log = log or logger.getChild("paho")
    if _ROUTINE_FILTER not in paho_log.filters:
        paho_log.addFilter(_ROUTINE_FILTER)
    client.enable_logger(paho_log)
    if settings.username is not None:
        client.username_pw_set(settings.username, settings.password_text)
    if settings.tls:
        ca_file = str(settings.tls_ca_file) if settings.tls_ca_file is not None else None
        try:
            client.tls_set(ca_certs=ca_file)
        except (OSError, ssl.SSLError) as exc:
            raise BrokerError(f"mqtt.tls_ca_file {ca_file}: {exc}") from exc
    client.reconnect_delay_set(RECONNECT_MIN_DELAY_S, RECONNECT_MAX_DELAY_S)
    client.on_socket_open = _no_delay
    return client


def connect_properties(
    settings: MqttSettings, *, receive_maximum: int | None = None
) -> Properties | None:
    """The CONNECT properties the settings ask for, or None when the defaults do."""
    if not settings.session_expiry_s and receive_maximum is None:
        return None
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    if settings.session_expiry_s:
        properties.SessionExpiryInterval = settings.session_expiry_s
    if receive_maximum is not None:
        properties.ReceiveMaximum = receive_maximum
    return properties


class _RoutineDisconnects(logging.Filter):
    """Logs paho's routine end-of-connection errors at their real level (see above)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.ERROR or not isinstance(record.msg, str):
            return True
        for start, level in _ROUTINE_DISCONNECTS:
            if record.msg.startswith(start):
                record.levelno, record.levelname = level, logging.getLevelName(level)
                # The logger let it through as an error; at its real level it may be off.
                return logging.getLogger(record.name).isEnabledFor(level)
        return True


_ROUTINE_FILTER = _RoutineDisconnects()


def _no_delay(_client: mqtt.Client, _userdata: Any, sock: Any) -> None:
    """Send each packet at once (TCP_NODELAY), which paho leaves to the caller.

    With Nagle's algorithm on, a PUBLISH waits for the TCP acknowledgement of the one
    before, which the broker's delayed ACK holds back for 40 ms: measured on a local
    Mosquitto, a PUBACK took 42 ms instead of 1 and a backlog drained six times slower.
    """
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except (AttributeError, OSError) as exc:  # not a TCP socket (e.g. a unix socket)
        logger.debug("TCP_NODELAY not set: %s", exc)
