"""Central replicas' persistent sessions at the broker: which replicas can hold one, and removal.

Every central replica logs in with an account of its own, and the broker binds the
client id to the account, so a replica's session is its account's. A replica that was
retired or renamed leaves its session in central's shared subscription until the
session expires, and the broker keeps handing it a share of every station's events.
:func:`remove_session` ends such a session at once.

Mosquitto 2.0 shows no list of sessions or connections, so removal first borrows the
session (it logs in as the replica, resuming the session, acknowledging nothing). A
replica that is still running is thrown off by that and, like every linetrace client,
reconnects within a second or two and takes its session back, unacknowledged messages
included: the borrower sees that as "session taken over", gives up and reports the
replica online. If nobody comes for the session within ``wait_s``, the borrower leaves
with a session expiry of 0, which ends the session and its share of the events. With
``force`` it does not wait; what the removed session held comes back from the edges,
which resend every event central has not acknowledged.
"""

from __future__ import annotations

import logging
import queue
import time
from dataclasses import dataclass
from pathlib import Path

from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.properties import Properties
from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.broker.mosquitto.accounts import broker_address
from linetrace.broker.mosquitto.directory import (
    BrokerDir,
    Credentials,
    Role,
    list_credentials,
    read_credentials,
)
from linetrace.errors import BrokerError

__all__ = ["DEFAULT_WAIT_S", "Removal", "remove_session", "replicas"]

logger = logging.getLogger(__name__)

# A replica thrown off reconnects after paho's first backoff step (1 s, see
# linetrace.broker.client); five seconds leaves room for a loaded host.
DEFAULT_WAIT_S = 5.0
# The broker answers a CONNECT in milliseconds; a loaded box gets headroom.
CONNACK_TIMEOUT_S = 10.0
# The borrower's own session expiry: Mosquitto hands a session back to its replica only
# when the session it takes over has an expiry, and the borrower ends it at 0 on leaving.
BORROW_EXPIRY_S = 60


@dataclass(frozen=True, slots=True)
class Removal:
    """What :func:`remove_session` found and did."""

    replica: str
    had_session: bool  # the broker held a session for the replica
    online: bool  # the replica came back for its session: nothing was removed

    @property
    def removed(self) -> bool:
        return self.had_session and not self.online


def replicas(directory: Path) -> list[Credentials]:
    """The central replicas this broker knows: each may hold a session in central's group."""
    return [c for c in list_credentials(directory) if c.role is Role.CENTRAL]


def remove_session(
    directory: Path, replica: str, *, force: bool = False, wait_s: float = DEFAULT_WAIT_S
) -> Removal:
    """End ``replica``'s persistent session, unless the replica turns out to be running.

    Raises :class:`BrokerError` for a name that is not a central replica of this broker
    or a broker that cannot be reached.
    """
    broker = BrokerDir(directory.resolve())
    path = broker.credential_file(replica, Role.CENTRAL)
    if not path.is_file():
        known = ", ".join(c.username for c in replicas(broker.path)) or "none"
        raise BrokerError(f"{replica!r} is not a central replica of this broker (known: {known})")
    account = read_credentials(path)
    if account.role is not Role.CENTRAL:
        raise BrokerError(f"{replica!r} is a {account.role} account, not a central replica")
    host, port = broker_address(broker.path)
    settings = MqttSettings(
        host=host, port=port, username=account.username, password=SecretStr(account.password)
    )
    # Take the fewest events while borrowing: the broker sends one at a time, unacknowledged.
    client = make_client(settings, manual_ack=True, reconnect_on_failure=False)
    answers: queue.SimpleQueue[tuple[str, int, bool]] = queue.SimpleQueue()
    client.on_connect = lambda _c, _u, flags, reason, _p: answers.put(
        ("connack", reason.value, bool(flags.session_present))
    )
    client.on_disconnect = lambda _c, _u, _f, reason, _p: answers.put(
        ("disconnect", reason.value, False)
    )
    properties = Properties(PacketTypes.CONNECT)  # type: ignore[no-untyped-call]
    properties.ReceiveMaximum = 1
    properties.SessionExpiryInterval = BORROW_EXPIRY_S
    try:
        client.connect(host, port, keepalive=30, clean_start=force, properties=properties)
    except OSError as exc:
        raise BrokerError(f"cannot reach the broker at {host}:{port}: {exc}") from exc
    client.loop_start()
    try:
        kind, code, had_session = _answer(answers, CONNACK_TIMEOUT_S)
        if kind != "connack" or code != 0:
            raise BrokerError(f"the broker refused {replica}'s login ({kind} {code})")
        if not force:
            try:
                kind, code, _ = _answer(answers, wait_s)
            except TimeoutError:
                pass  # nobody came for the session: the replica is not running
            else:
                # Mosquitto 2.0.11 closes a taken-over connection without a DISCONNECT
                # (paho reports 0x80, later brokers send 0x8E): either way the session
                # went back to a client that logged in as the replica.
                logger.warning("%s is running: it took its session back (%s)", replica, code)
                return Removal(replica, had_session=True, online=True)
        ending = Properties(PacketTypes.DISCONNECT)  # type: ignore[no-untyped-call]
        ending.SessionExpiryInterval = 0
        client.disconnect(properties=ending)
        _answer(answers, CONNACK_TIMEOUT_S)  # the DISCONNECT is out
    finally:
        client.loop_stop()
    logger.info("%s: session %s", replica, "removed" if had_session else "was not held")
    return Removal(replica, had_session=had_session or force, online=False)


def _answer(
    answers: queue.SimpleQueue[tuple[str, int, bool]], timeout_s: float
) -> tuple[str, int, bool]:
    deadline = time.monotonic() + timeout_s
    try:
        return answers.get(timeout=max(0.0, deadline - time.monotonic()))
    except queue.Empty:
        raise TimeoutError(f"no answer within {timeout_s} s") from None
