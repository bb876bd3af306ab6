"""Mosquitto's dynamic security plugin: every account, its role and its ACL, checked in full.

Why the plugin and not ``password_file``/``acl_file``: Mosquitto 2.0's ACL file grants
every SUBSCRIBE and filters only on delivery, so a station could join central's shared
subscription (``$share/central/...``) and take a round-robin share of every station's
events, which its read ACL then dropped. The plugin checks subscriptions when they are
made, against the literal filter (``$share/`` prefix included), and answers a refused
one with SUBACK 0x87. Client ids are bound to accounts by ``use_username_as_clientid``
on every listener (see :func:`~.directory.render_conf`): nobody chooses a client id, so
no login can take over another's session.

The plugin's file (``security/dynamic-security.json``) is rendered here from the
credential store, which stays the one source of truth (the roles themselves are in
:func:`~.roles.role_acls`). The plugin reads it only at start (a SIGHUP does not
reload it), so a change for a running broker is also sent over the plugin's
``$CONTROL`` topic by the directory's own admin account, and the plugin saves it to the
same file. The 2.0.11 plugin has no ``%u`` substitution, so every station (and every
bridge) has a role of its own.
"""

from __future__ import annotations

import base64
import glob
import hashlib
import hmac
import json
import queue
import secrets
from pathlib import Path
from typing import Any, NamedTuple

from pydantic import SecretStr

from linetrace.broker.client import MqttSettings, make_client
from linetrace.errors import BrokerError, MosquittoNotFoundError

__all__ = [
    "ADMIN_USERNAME",
    "CONTROL_TOPIC",
    "PLUGIN_NAME",
    "Acl",
    "Client",
    "acl",
    "change_commands",
    "find_plugin",
    "password_fields",
    "read",
    "render_dynsec",
    "send",
    "send_commands",
    "verify_password",
]

PLUGIN_NAME = "mosquitto_dynamic_security.so"

# Debian and Ubuntu put plugins in the multiarch folder; source installs in /usr/local.
PLUGIN_GLOBS = (
    "/usr/lib/*/mosquitto_dynamic_security.so",
    "/usr/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/mosquitto_dynamic_security.so",
    "/usr/local/lib/*/mosquitto_dynamic_security.so",
)

# The account that changes accounts at a running broker; made by init, never handed out.
ADMIN_USERNAME = "linetrace-admin"
CONTROL_TOPIC = "$CONTROL/dynamic-security/v1"

# Passwords are 256-bit random secrets, so key stretching adds nothing against guessing;
# 101 rounds is what Mosquitto itself uses and keeps every CONNECT cheap.
PBKDF2_ITERATIONS = 101
SALT_BYTES = 12  # the plugin refuses any other salt length
HASH_BYTES = 64  # SHA-512 output, the only length the plugin accepts

Acl = dict[str, Any]


class Client(NamedTuple):
    """One account as the plugin knows it: user, clear-text password, role name."""

    username: str
    password: str
    role: str


def find_plugin() -> Path:
    """The dynamic security plugin shipped with Mosquitto (package ``mosquitto``)."""
    for pattern in PLUGIN_GLOBS:
        for found in sorted(glob.glob(pattern)):
            return Path(found)
    raise MosquittoNotFoundError(
        f"Mosquitto's {PLUGIN_NAME} is not installed (it comes with the mosquitto "
        "package, 2.0 or later): sudo apt-get install -y mosquitto"
    )


def password_fields(password: str, *, salt: bytes | None = None) -> dict[str, Any]:
    """The plugin's stored form of ``password``: PBKDF2-HMAC-SHA512, base64 salt and hash."""
    salt = secrets.token_bytes(SALT_BYTES) if salt is None else salt
    if len(salt) != SALT_BYTES:
        raise ValueError(f"Mosquitto needs a {SALT_BYTES}-byte salt, not {len(salt)}")
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, PBKDF2_ITERATIONS, HASH_BYTES)
    return {
        "salt": base64.b64encode(salt).decode(),
        "password": base64.b64encode(digest).decode(),
        "iterations": PBKDF2_ITERATIONS,
    }


def verify_password(password: str, fields: dict[str, Any]) -> bool:
    """Whether ``fields`` (as :func:`password_fields` makes them) hash ``password``."""
    try:
        salt = base64.b64decode(fields["salt"], validate=True)
        expected = base64.b64decode(fields["password"], validate=True)
        rounds = int(fields["iterations"])
    except (KeyError, TypeError, ValueError):
        return False
    if len(salt) != SALT_BYTES or len(expected) != HASH_BYTES or rounds < 1:
        return False
    actual = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, rounds, HASH_BYTES)
    return hmac.compare_digest(actual, expected)


def render_dynsec(clients: list[Client], roles: dict[str, list[Acl]]) -> dict[str, Any]:
    """The plugin's whole configuration: ``clients`` (user, password, role) and ``roles``."""
    return {
        # Deny what no role grants, receiving included: a subscription that slipped
        # through would still deliver nothing.
        "defaultACLAccess": {
            "publishClientSend": False,
            "publishClientReceive": False,
            "subscribe": False,
            "unsubscribe": True,
        },
        "clients": [
            {
                "username": client.username,
                **password_fields(client.password),
                "roles": [{"rolename": client.role}],
            }
            for client in clients
        ],
        "groups": [],
        "roles": [{"rolename": name, "acls": acls} for name, acls in sorted(roles.items())],
    }


def change_commands(old: Client | None, new: Client, acls: list[Acl]) -> list[dict[str, Any]]:
    """The ``$CONTROL`` commands that bring a running broker from ``old`` to ``new``.

    An unchanged account sends nothing: every client command of the plugin disconnects
    the account's clients, which only a new password or role should do.
    """
    create_role = {"command": "createRole", "rolename": new.role, "acls": acls}
    if old is None:
        return [
            create_role,
            {
                "command": "createClient",
                "username": new.username,
                "password": new.password,
                "roles": [{"rolename": new.role}],
            },
        ]
    commands: list[dict[str, Any]] = []
    if old.password != new.password:
        commands.append(
            {"command": "setClientPassword", "username": new.username, "password": new.password}
        )
    if old.role != new.role:
        commands += [
            create_role,
            {"command": "addClientRole", "username": new.username, "rolename": new.role},
            {"command": "removeClientRole", "username": new.username, "rolename": old.role},
        ]
    return commands


# Answers that mean the broker already holds what the command asked for.
ALREADY_DONE = ("Role already exists", "Client already exists")


def check_responses(commands: list[dict[str, Any]], answer: bytes) -> None:
    """Raise :class:`BrokerError` unless every command succeeded (or was already done)."""
    try:
        responses = json.loads(answer)["responses"]
    except (ValueError, KeyError, TypeError):
        raise BrokerError(f"the broker answered {answer!r} to an account change") from None
    for command, response in zip(commands, responses, strict=False):
        error = response.get("error") if isinstance(response, dict) else "no answer"
        if error and error not in ALREADY_DONE:
            raise BrokerError(f"the broker refused {command['command']}: {error}")


def acl(kind: str, topic_filter: str) -> Acl:
    """One allowing ACL entry (``publishClientSend``, ``subscribeLiteral``, ...)."""
    return {"acltype": kind, "topic": topic_filter, "priority": 0, "allow": True}


def send(*filters: str) -> list[Acl]:
    """Publish to what matches ``filters``."""
    return [acl("publishClientSend", f) for f in filters]


def read(*filters: str) -> list[Acl]:
    """Subscribe within ``filters`` and receive what matches them (retained included)."""
    return [acl(kind, f) for f in filters for kind in ("subscribePattern", "publishClientReceive")]


def dumps(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2) + "\n"


# A local broker answers a control command in milliseconds; a loaded box gets headroom.
CONTROL_TIMEOUT_S = 10.0


def send_commands(host: str, port: int, admin: Client, commands: list[dict[str, Any]]) -> None:
    """Send ``commands`` to the broker's plugin as ``admin`` and wait until it has applied them."""
    if not commands:
        return
    settings = MqttSettings(
        host=host, port=port, username=admin.username, password=SecretStr(admin.password)
    )
    client = make_client(settings, reconnect_on_failure=False)
    answers: queue.SimpleQueue[bytes | str] = queue.SimpleQueue()
    client.on_connect = lambda _c, _u, _f, reason, _p: answers.put(str(reason))
    client.on_subscribe = lambda _c, _u, _m, reasons, _p: answers.put(str(reasons[0]))
    client.on_message = lambda _c, _u, message: answers.put(bytes(message.payload))
    try:
        client.connect(host, port, keepalive=30)
        client.loop_start()
        if (connack := _next(answers)) != "Success":
            raise BrokerError(f"the broker refused its admin account ({connack!r}): run init again")
        client.subscribe(f"{CONTROL_TOPIC}/response", qos=1)
        if (suback := _next(answers)) != "Granted QoS 1":
            raise BrokerError(f"the broker refused the admin's subscription ({suback!r})")
        client.publish(CONTROL_TOPIC, json.dumps({"commands": commands}), qos=1)
        answer = _next(answers)
    except OSError as exc:
        raise BrokerError(f"cannot reach the running broker at {host}:{port}: {exc}") from exc
    finally:
        client.disconnect()
        client.loop_stop()
    if not isinstance(answer, bytes):
        raise BrokerError(f"the broker answered {answer} instead of applying the change")
    check_responses(commands, answer)


def _next(answers: queue.SimpleQueue[bytes | str]) -> bytes | str:
    try:
        return answers.get(timeout=CONTROL_TIMEOUT_S)
    except queue.Empty:
        raise BrokerError(f"no answer from the broker within {CONTROL_TIMEOUT_S} s") from None
