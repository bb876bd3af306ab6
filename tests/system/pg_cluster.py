"""A PostgreSQL cluster of a test's own, which the test may stop and start at will.

The shared test server must never be restarted under other tests, so a fault test makes
a throwaway cluster with the installed server's own tools: ``initdb`` into a fresh
folder, ``pg_ctl`` to start, stop and restart it on a free port of 127.0.0.1 (trust
authentication: nothing but this machine can reach it, and it lives for one test).
PostgreSQL refuses to run as root, so as root the tools run as the ``postgres`` user
(``runuser``), in a folder that user owns.
"""

from __future__ import annotations

import os
import pwd
import shutil
import subprocess
import tempfile
from pathlib import Path
from types import TracebackType
from typing import Self

from linetrace.errors import LinetraceError
from linetrace.ports import free_port

__all__ = ["PgCluster", "PgClusterError", "find_pg_bin"]

# initdb and a start or stop take a second or two; a loaded box gets headroom.
PG_CTL_TIMEOUT_S = 60
_SERVER_USER = "postgres"


class PgClusterError(LinetraceError):
    """The cluster cannot be made, started or stopped (the message says which and why)."""


def find_pg_bin() -> Path | None:
    """The newest installed server's ``bin`` folder (Debian's layout, then ``pg_config``)."""
    versions = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda path: int(path.parent.parent.name) if path.parent.parent.name.isdigit() else 0,
    )
    if versions:
        return versions[-1].parent
    pg_config = shutil.which("pg_config")
    if pg_config is None:
        return None
    found = subprocess.run([pg_config, "--bindir"], capture_output=True, text=True, check=False)
    bindir = Path(found.stdout.strip())
    return bindir if (bindir / "initdb").exists() else None


class PgCluster:
    """One cluster in a folder of its own, on ``127.0.0.1:port``, until :meth:`destroy`."""

    def __init__(self, bindir: Path) -> None:
        self.bindir = bindir
        self.port = free_port()
        self._as_root = os.geteuid() == 0
        # Not under pytest's tmp_path: as root that is private to root, and the server
        # runs as postgres.
        self.folder = Path(tempfile.mkdtemp(prefix="linetrace-pg-"))
        self.data = self.folder / "data"
        self.log = self.folder / "server.log"
        if self._as_root:
            account = pwd.getpwnam(_SERVER_USER)
            os.chown(self.folder, account.pw_uid, account.pw_gid)
        self._run(
            "initdb",
            "-D",
            str(self.data),
            "-U",
            "postgres",
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )

    def url(self, database: str = "postgres") -> str:
        """The SQLAlchemy URL of ``database`` on this cluster."""
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def start(self) -> None:
        # fsync off: only the server process stops or dies, never the machine, so the
        # operating system keeps every write; surviving power loss is PostgreSQL's
        # business, not this test's.
        options = (
            f"-p {self.port} -c listen_addresses=127.0.0.1 "
            f"-c unix_socket_directories={self.folder} -c fsync=off"
        )
        self._run("pg_ctl", "start", "-w", "-D", str(self.data), "-l", str(self.log), "-o", options)

    def stop(self, mode: str = "fast") -> None:
        """Stop the server: ``fast`` ends open sessions as an operator's restart does,
        ``immediate`` kills it as a crash would (the next start recovers from the WAL)."""
        self._run("pg_ctl", "stop", "-w", "-m", mode, "-D", str(self.data))

    @property
    def running(self) -> bool:
        done = subprocess.run(
            self._argv("pg_ctl", "status", "-D", str(self.data)),
            capture_output=True,
            check=False,
        )
        return done.returncode == 0

    def destroy(self) -> None:
        if self.data.exists() and self.running:
            self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)

    def tail(self, lines: int = 30) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.destroy()

    def _argv(self, tool: str, *args: str) -> list[str]:
        argv = [str(self.bindir / tool), *args]
        return ["runuser", "-u", _SERVER_USER, "--", *argv] if self._as_root else argv

    def _run(self, tool: str, *args: str) -> None:
        try:
            subprocess.run(
                self._argv(tool, *args),
                capture_output=True,
                text=True,
                check=True,
                timeout=PG_CTL_TIMEOUT_S,
                cwd=self.folder,
            )
        except subprocess.CalledProcessError as exc:
            raise PgClusterError(
                f"{tool} {' '.join(args[:1])} failed: {exc.stderr.strip()}\n{self.tail()}"
            ) from None
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise PgClusterError(f"{tool}: {exc}") from None
