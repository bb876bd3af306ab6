"""Mosquitto for linetrace: the broker directory, its accounts and ACL, and running it.

- :mod:`.directory`: the files of one broker (configuration, ACL, credential store);
- :mod:`.accounts`: station and service logins and their password hashes;
- :mod:`.process`: finding, running and reloading the ``mosquitto`` program;
- :mod:`.local`: a throwaway broker on a free port, for tests, benchmarks and the demo.

Errors: :class:`~linetrace.errors.BrokerError` for a broker directory that cannot be
used (with what to do), and :class:`~linetrace.errors.MosquittoNotFoundError` when the
``mosquitto`` program is missing.
"""

from linetrace.broker.mosquitto.accounts import (
    add_service,
    add_station,
    hash_password,
    verify_password,
)
from linetrace.broker.mosquitto.directory import (
    DEFAULT_PORT,
    DEFAULT_TLS_PORT,
    MAX_PACKET_KIB,
    MAX_QUEUED_MESSAGES,
    BrokerDir,
    Credentials,
    Role,
    TlsFiles,
    init_broker,
    list_credentials,
    render_acl,
    render_conf,
)
from linetrace.broker.mosquitto.process import (
    broker_command,
    find_mosquitto,
    reload,
    reload_running,
    run_broker,
    running_pid,
)
from linetrace.errors import BrokerError, MosquittoNotFoundError

__all__ = [
    "DEFAULT_PORT",
    "DEFAULT_TLS_PORT",
    "MAX_PACKET_KIB",
    "MAX_QUEUED_MESSAGES",
    "BrokerDir",
    "BrokerError",
    "Credentials",
    "MosquittoNotFoundError",
    "Role",
    "TlsFiles",
    "add_service",
    "add_station",
    "broker_command",
    "find_mosquitto",
    "hash_password",
    "init_broker",
    "list_credentials",
    "reload",
    "reload_running",
    "render_acl",
    "render_conf",
    "run_broker",
    "running_pid",
    "verify_password",
]
