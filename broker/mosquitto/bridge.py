"""A site's Mosquitto bridged to the central broker, with Mosquitto's own bridge.

Stations of a site publish to their site broker, as they would to any broker; the site
broker's bridge carries their ``events`` and ``status`` to the central broker, where the
central replicas share the events subscription, and brings central's ``batch`` and
``ack`` back (both retained, both read by the stations at their site broker). Two sides:

* on the central broker, :func:`add_bridge` makes the bridge's account, ``bridge.SITE``,
  whose ACL lets it publish only the events and status of its site's stations and read
  only their batch and ack: a site broker taken over speaks for its own site, no other;
* on the site broker, :func:`write_bridge` writes the link into ``conf.d/`` (Mosquitto
  reads it at start; bridges are not reloaded on SIGHUP), with TLS to the central broker.

Nothing is lost while the link is down, at either end: the bridge keeps a persistent
session on both brokers (``cleansession false``), so the site broker queues what the
stations publish and the central broker queues central's acks and batches, each up to
its ``max_queued_messages``; everything travels at QoS 1. Past those queues the stations'
outboxes are the store: they hold every event until central's ack covers it.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from pathlib import Path

from linetrace.broker.contract.topics import Channel
from linetrace.broker.mosquitto.accounts import add_service
from linetrace.broker.mosquitto.directory import (
    BRIDGE_USER_PREFIX,
    DEFAULT_PORT,
    DEFAULT_TLS_PORT,
    BrokerDir,
    Credentials,
    Role,
    locked,
    site_filter,
    write_private,
)
from linetrace.errors import BrokerError

__all__ = [
    "BRIDGE_KEEPALIVE_S",
    "RESTART_BASE_S",
    "RESTART_CAP_S",
    "BridgeTls",
    "Remote",
    "add_bridge",
    "bridge_file",
    "bridge_username",
    "render_bridge",
    "write_bridge",
]

logger = logging.getLogger(__name__)

# The same keepalive as every other client: a dead WAN link is noticed within 45 s.
BRIDGE_KEEPALIVE_S = 30
# Reconnect backoff ("decorrelated jitter" between base and cap): a WAN blip heals within
# seconds, and a site's bridge never hammers a central broker that stays down.
RESTART_BASE_S = 2
RESTART_CAP_S = 30
# What the bridge carries, and which way: events and status up, batch and ack down.
BRIDGED = (
    (Channel.EVENTS, "out"),
    (Channel.STATUS, "out"),
    (Channel.BATCH, "in"),
    (Channel.ACK, "in"),
)
# Letters, digits, '-', '_' and '.': a connection name is a file name and a client id part.
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Remote:
    """The central broker's address as the site reaches it."""

    host: str
    port: int

    @classmethod
    def parse(cls, text: str, *, tls: bool = True) -> Remote:
        """Read ``HOST``, ``HOST:PORT`` or ``[IPv6]:PORT`` (default port 8883, 1883 without TLS)."""
        default = DEFAULT_TLS_PORT if tls else DEFAULT_PORT
        host, port = text, str(default)
        if text.startswith("["):
            host, _, rest = text[1:].partition("]")
            port = rest.removeprefix(":") or port
        elif ":" in text:  # an IPv6 address needs its brackets
            host, _, port = text.partition(":")
        if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
            raise BrokerError(f"remote {text!r} is not HOST:PORT")
        return cls(host, int(port))

    def __str__(self) -> str:
        # Mosquitto wants an IPv6 address bare, with the port after a colon.
        return f"{self.host}:{self.port}"


@dataclass(frozen=True, slots=True)
class BridgeTls:
    """How the bridge verifies the central broker, and (optionally) proves itself to it."""

    ca: Path
    cert: Path | None = None
    key: Path | None = None

    def resolved(self) -> BridgeTls:
        """The same files as absolute paths, each checked to exist."""
        if (self.cert is None) != (self.key is None):
            raise BrokerError("a bridge client certificate needs both its cert and key files")
        return BridgeTls(
            ca=_existing(self.ca),
            cert=_existing(self.cert) if self.cert is not None else None,
            key=_existing(self.key) if self.key is not None else None,
        )


def _existing(path: Path) -> Path:
    resolved = path.resolve()
    if not resolved.is_file():
        raise BrokerError(f"TLS file {resolved} does not exist")
    return resolved


def bridge_username(site: str) -> str:
    """The central broker's account of a site's bridge."""
    return f"{BRIDGE_USER_PREFIX}{site}"


def add_bridge(central_directory: Path, site: str, *, rotate: bool = False) -> Credentials:
    """The credentials of ``site``'s bridge on the central broker, created on first use."""
    return add_service(central_directory, bridge_username(site), Role.BRIDGE, rotate=rotate)


def bridge_file(site_directory: Path, name: str) -> Path:
    """Where the site broker keeps the bridge called ``name``."""
    return BrokerDir(site_directory.resolve()).conf_d / f"bridge-{name}.conf"


def write_bridge(
    site_directory: Path,
    *,
    site: str,
    remote: Remote,
    credentials: Credentials,
    tls: BridgeTls | None,
    name: str = "central",
    restart_s: tuple[int, int] = (RESTART_BASE_S, RESTART_CAP_S),
) -> Path:
    """Write (or replace) the site broker's bridge ``name``; the broker reads it at start.

    ``tls`` None sends the password in clear: only for a link that is private already.
    """
    broker = BrokerDir(site_directory.resolve())
    if not broker.conf.exists():
        raise BrokerError(f"{broker.path} is not a broker directory: run `linetrace broker init`")
    for what, value in (("bridge name", name), ("site", site)):
        if not _NAME.match(value):
            raise BrokerError(
                f"{what} {value!r} is not valid: use 1-64 letters, digits, '-', '_' or '.'"
            )
    if credentials.role is not Role.BRIDGE or credentials.username != bridge_username(site):
        raise BrokerError(
            f"these are the credentials of {credentials.role} user {credentials.username!r}, "
            f"not of the bridge of site {site!r} ({bridge_username(site)}): "
            f"make them with `linetrace broker add-bridge` on the central broker"
        )
    text = render_bridge(
        name=name,
        site=site,
        remote=remote,
        credentials=credentials,
        tls=tls.resolved() if tls is not None else None,
        restart_s=restart_s,
    )
    path = bridge_file(broker.path, name)
    with locked(broker):
        broker.conf_d.mkdir(mode=0o700, exist_ok=True)
        write_private(path, text)  # it holds the bridge's password
    logger.info("bridge %s of site %s to %s written to %s", name, site, remote, path)
    return path


def render_bridge(
    *,
    name: str,
    site: str,
    remote: Remote,
    credentials: Credentials,
    tls: BridgeTls | None,
    restart_s: tuple[int, int] = (RESTART_BASE_S, RESTART_CAP_S),
) -> str:
    """The bridge's ``conf.d`` text."""
    base, cap = restart_s
    if not 1 <= base <= cap:
        raise BrokerError(f"restart timeout {base}..{cap} s: need 1 <= base <= cap")
    values = [remote.host, credentials.password]
    if tls is not None:
        values += [str(path) for path in (tls.ca, tls.cert, tls.key) if path is not None]
    for value in values:
        if any(character.isspace() for character in value):
            raise BrokerError(f"{value!r} cannot be written into mosquitto.conf (white space)")
    lines = [
        "# Generated by `linetrace broker bridge`; edits are lost when it runs again.",
        "# Bridges are read at start only: restart the broker after changing this file.",
        f"connection {name}",
        f"address {remote}",
        # The client id is the account name, so a broker that binds ids to users accepts it.
        f"remote_clientid {credentials.username}",
        f"remote_username {credentials.username}",
        f"remote_password {credentials.password}",
        # Mosquitto's private bridge flag keeps retained messages retained across the link
        # (ack and batch are retained) and stops loops; it needs MQTT 3.1.1, the default.
        "bridge_protocol_version mqttv311",
        "try_private true",
        # Persistent sessions at both ends: each broker queues for the link while it is down.
        "cleansession false",
        "local_cleansession false",
        "start_type automatic",
        f"restart_timeout {base} {cap}",
        f"keepalive_interval {BRIDGE_KEEPALIVE_S}",
        # The link's state, retained at $SYS/broker/connection/<client id>/state (1 up,
        # 0 down), stays on the site broker: the central ACL grants the bridge nothing else.
        "notifications true",
        "notifications_local_only true",
    ]
    if tls is not None:
        lines += [f"bridge_cafile {tls.ca}", "bridge_tls_version tlsv1.2", "bridge_insecure false"]
        if tls.cert is not None and tls.key is not None:
            lines += [f"bridge_certfile {tls.cert}", f"bridge_keyfile {tls.key}"]
    lines += [f"topic {site_filter(site, channel)} {way} 1" for channel, way in BRIDGED]
    return "\n".join(lines) + "\n"
