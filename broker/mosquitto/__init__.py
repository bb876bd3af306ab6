"""Mosquitto for linetrace: the broker directory, its accounts and ACL, and running it.

- :mod:`.directory`: the files of one broker (configuration, access rules, credential store);
- :mod:`.roles`: accounts and what each role may publish, subscribe to and read;
- :mod:`.dynsec`: Mosquitto's dynamic security plugin (subscriptions checked when made);
- :mod:`.bridge`: a site broker's bridge to the central broker;
- :mod:`.accounts`: station and service logins, applied to a running broker at once;
- :mod:`.sessions`: central replicas' persistent sessions, listed and removed;
- :mod:`.process`: finding, running and reloading the ``mosquitto`` program;
- :mod:`.local`: a throwaway broker on a free port, for tests, benchmarks and the demo.

Errors: :class:`~linetrace.errors.BrokerError` for a broker directory that cannot be
used (with what to do), and :class:`~linetrace.errors.MosquittoNotFoundError` when the
``mosquitto`` program is missing.
"""

from linetrace.broker.mosquitto.accounts import add_service, add_station, broker_address
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
    render_conf,
    role_acls,
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
    "broker_address",
    "broker_command",
    "find_mosquitto",
    "init_broker",
    "list_credentials",
    "reload",
    "reload_running",
    "render_conf",
    "role_acls",
    "run_broker",
    "running_pid",
]
