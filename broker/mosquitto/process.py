"""Running Mosquitto on a broker directory, and reloading it after an account change."""

from __future__ import annotations

import logging
import os
import shutil
import signal
from pathlib import Path

from linetrace.broker.mosquitto.directory import BrokerDir
from linetrace.errors import BrokerError, MosquittoNotFoundError

__all__ = [
    "broker_command",
    "find_mosquitto",
    "reload",
    "reload_running",
    "run_broker",
    "running_pid",
]

logger = logging.getLogger(__name__)

# Where Debian, Ubuntu and source installs put the broker, which is often not on a
# normal user's PATH.
SBIN_DIRS = ("/usr/sbin", "/usr/local/sbin")

INSTALL_HINT = (
    "install it with: sudo apt-get install -y mosquitto "
    "(the package also starts a system broker on port 1883; stop it with "
    "`sudo systemctl disable --now mosquitto` or init this broker on another --port)"
)


def find_mosquitto() -> str:
    """The path of the ``mosquitto`` program, or :class:`MosquittoNotFoundError`."""
    search = os.pathsep.join([os.environ.get("PATH", ""), *SBIN_DIRS])
    found = shutil.which("mosquitto", path=search)
    if found is None:
        raise MosquittoNotFoundError(f"mosquitto is not installed; {INSTALL_HINT}")
    return found


def broker_command(directory: Path) -> list[str]:
    """The command line that runs the broker of ``directory`` in the foreground."""
    broker = BrokerDir(directory.resolve())
    if not broker.conf.is_file():
        raise BrokerError(
            f"{broker.conf} is missing: run `linetrace broker init {directory}` first"
        )
    return [find_mosquitto(), "-c", str(broker.conf)]


def run_broker(directory: Path) -> int:
    """Replace this process with Mosquitto, so signals and the pid reach it directly.

    Returns only when Mosquitto could not be started.
    """
    command = broker_command(directory)
    logger.info("starting %s", " ".join(command))
    for handler in logging.getLogger().handlers:
        handler.flush()
    try:
        os.execv(command[0], command)  # noqa: S606 - our own command line, no shell
    except OSError as exc:
        raise BrokerError(f"cannot start {command[0]}: {exc}") from None


def reload(pid: int) -> None:
    """Make a running Mosquitto re-read its password and ACL files (SIGHUP)."""
    os.kill(pid, signal.SIGHUP)


def running_pid(directory: Path) -> int | None:
    """The pid of the broker of ``directory`` if it runs, checked so a stale pid is ignored."""
    broker = BrokerDir(directory.resolve())
    try:
        pid = int(broker.pid_file.read_text().strip())
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        logger.warning("ignoring unreadable pid file %s: %s", broker.pid_file, exc)
        return None
    try:
        command = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except FileNotFoundError:
        return None  # no such process: Mosquitto leaves its pid file behind on exit
    except OSError as exc:
        logger.warning("cannot tell whether pid %s is this broker: %s", pid, exc)
        return None
    return pid if str(broker.conf).encode() in command else None


def reload_running(directory: Path) -> bool:
    """Reload the broker of ``directory`` if it runs; True when it was signalled."""
    pid = running_pid(directory)
    if pid is None:
        return False
    try:
        reload(pid)
    except PermissionError:
        logger.warning("not allowed to signal broker pid %s; run: kill -HUP %s", pid, pid)
        return False
    except ProcessLookupError:
        return False
    logger.info("broker pid %s reloads its users and ACL", pid)
    return True
