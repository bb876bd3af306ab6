"""Broker accounts and what each role may do: the rules the dynamic security plugin enforces.

An account is a login (:class:`Credentials`) with a :class:`Role`. Stations and bridges
each get a plugin role of their own naming exactly their topics; services share one per
role. Every publish, subscription and delivery is checked against these ACLs, and
everything they do not allow is denied.
"""

from __future__ import annotations

from enum import StrEnum

from pydantic import BaseModel, ConfigDict, Field

from linetrace.broker.contract.topics import PREFIX, SHARED_GROUP, Channel, subscription
from linetrace.broker.mosquitto import dynsec

__all__ = [
    "BRIDGE_USER_PREFIX",
    "Credentials",
    "Role",
    "plugin_client",
    "role_acls",
    "role_name",
    "site_filter",
]


class Role(StrEnum):
    """What a broker user may do; stations are fixed by their id, services by role."""

    STATION = "station"  # its own events/status out, its own batch/ack in
    CENTRAL = "central"  # every station's events/status in, batch/ack out
    MONITOR = "monitor"  # read everything, write nothing (dashboards, debugging)
    BRIDGE = "bridge"  # a site broker's bridge: its site's events/status out, batch/ack in
    ADMIN = "admin"  # changes accounts at a running broker; made by init, never handed out


# A bridge logs in as ``bridge.SITE``: the site is in the name, so the ACL needs nothing more.
BRIDGE_USER_PREFIX = "bridge."


def site_filter(site: str, channel: Channel) -> str:
    """One channel of every station of ``site``: what a site's bridge carries."""
    return f"{PREFIX}/{site}/+/+/{channel}"


class Credentials(BaseModel):
    """One broker login, as stored in ``credentials/`` and printed by the CLI."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    username: str = Field(description="Broker user name: SITE/LINE/STATION or a service name.")
    password: str = Field(description="The clear-text password (a random 256-bit secret).")
    role: Role = Field(description="What the user may publish and read.")


def role_name(account: Credentials) -> str:
    """The plugin role of an account: shared by services, one per station and bridge."""
    if account.role in (Role.STATION, Role.BRIDGE):
        return f"{account.role}:{account.username}"
    return str(account.role)


def role_acls(account: Credentials) -> list[dynsec.Acl]:
    """What the account may publish, subscribe to and receive; everything else is denied."""
    role, username = account.role, account.username
    if role is Role.STATION:
        own = f"{PREFIX}/{username}"
        return [
            *dynsec.send(f"{own}/{Channel.EVENTS}", f"{own}/{Channel.STATUS}"),
            *dynsec.read(f"{own}/{Channel.BATCH}", f"{own}/{Channel.ACK}"),
        ]
    if role is Role.BRIDGE:
        site = username.removeprefix(BRIDGE_USER_PREFIX)
        return [
            *dynsec.send(site_filter(site, Channel.EVENTS), site_filter(site, Channel.STATUS)),
            *dynsec.read(site_filter(site, Channel.BATCH), site_filter(site, Channel.ACK)),
        ]
    if role is Role.CENTRAL:
        # Every station's events and status, and its own shared group, no other: a second
        # group would silently take a copy of every event. It writes batch and ack, and
        # re-reads the retained ones it published.
        shared = subscription(Channel.EVENTS, shared_group=SHARED_GROUP)
        return [
            dynsec.acl("subscribeLiteral", shared),
            *dynsec.read(subscription(Channel.EVENTS), subscription(Channel.STATUS)),
            *dynsec.send(subscription(Channel.BATCH), subscription(Channel.ACK)),
            *dynsec.read(subscription(Channel.BATCH), subscription(Channel.ACK)),
        ]
    if role is Role.MONITOR:
        return dynsec.read(f"{PREFIX}/#")
    return [  # Role.ADMIN
        dynsec.acl("publishClientSend", dynsec.CONTROL_TOPIC),
        *dynsec.read(f"{dynsec.CONTROL_TOPIC}/response"),
    ]


def plugin_client(account: Credentials) -> dynsec.Client:
    return dynsec.Client(account.username, account.password, role_name(account))
