"""Backing up central's database and restoring it, with each backend's own tool.

SQLite: the online backup API copies the database page by page into a new file while
central keeps writing. It copies in one step, inside one read transaction: in WAL mode a
reader never blocks the writer, and the copy is the database as of one commit (a backup
made in several steps would start over each time another connection writes, and might
never finish under a steady ingest). The copy is checked (``PRAGMA quick_check``) before
it takes the file's name, so a file by that name is always a whole backup.

PostgreSQL: ``pg_dump`` in its custom format (compressed, one consistent snapshot, read
back by ``pg_restore``, which can restore in parallel or pick tables); a restore goes
into an empty database in one transaction. Both tools come with PostgreSQL's client
package and must be at least the server's version.

A restored database keeps the schema revision it was backed up at; central's start (or
``central migrate``) upgrades it.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

import sqlalchemy as sa
from sqlalchemy.engine import URL, make_url

from linetrace.central.store.engine import SQLITE_BUSY_TIMEOUT_MS, open_engine, redacted
from linetrace.central.store.migrate import current_revision
from linetrace.errors import LinetraceError
from linetrace.private import PRIVATE_FILE_MODE, private_sqlite

__all__ = ["BackupError", "Copied", "ToolNotFound", "backup", "restore"]

_INSTALL_HINT = "install PostgreSQL's client tools (Debian: apt-get install postgresql-client)"


class BackupError(LinetraceError):
    """A backup or a restore could not be made; nothing was left under the target's name."""


class ToolNotFound(BackupError):
    """``pg_dump`` or ``pg_restore`` is not installed."""


@dataclass(frozen=True, slots=True)
class Copied:
    """What a backup or restore wrote: the file or database, its size, its revision."""

    target: str
    size: int
    revision: str | None


def backup(url: str | URL, target: Path, *, force: bool = False) -> Copied:
    """Copy the database at ``url`` into the new file ``target`` (replaced only with ``force``)."""
    parsed = make_url(url)
    if target.exists() and not force:
        raise BackupError(f"{target} exists; choose a new file (or --force to replace it)")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    try:
        if parsed.get_backend_name() == "sqlite":
            _sqlite_copy(Path(_sqlite_path(parsed)), partial)
        else:
            _run("pg_dump", ["--format=custom", "--no-owner", f"--file={partial}"], parsed)
        partial.chmod(PRIVATE_FILE_MODE)
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    revision = _file_revision(target) if parsed.get_backend_name() == "sqlite" else None
    return Copied(str(target), target.stat().st_size, revision)


def restore(source: Path, url: str | URL, *, force: bool = False) -> Copied:
    """Restore the backup ``source`` into the empty database at ``url`` (any, with ``force``)."""
    parsed = make_url(url)
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if parsed.get_backend_name() == "sqlite":
        target = Path(_sqlite_path(parsed))
        if not force and _has_tables(parsed):
            raise BackupError(f"{target} holds a database; restore into a new path or use --force")
        private_sqlite(target)
        _sqlite_copy(source, target)
        size = target.stat().st_size
    else:
        if not force and _has_tables(parsed):
            raise BackupError(
                f"{redacted(parsed)} is not empty; restore into a new database or use --force"
            )
        options = ["--no-owner", "--exit-on-error", "--single-transaction"]
        options += ["--clean", "--if-exists"] if force else []
        _run("pg_restore", [*options, str(source)], parsed)
        size = source.stat().st_size
    engine = open_engine(parsed)
    try:
        revision = current_revision(engine)
    finally:
        engine.dispose()
    return Copied(redacted(parsed), size, revision)


def _sqlite_path(url: URL) -> str:
    if not url.database or url.database == ":memory:" or url.query.get("uri"):
        raise BackupError(f"{url} is not an SQLite file")
    return url.database


def _sqlite_copy(source: Path, target: Path) -> None:
    """The whole of ``source`` into ``target`` (new or not), checked, in one read snapshot."""
    if not source.is_file():
        raise BackupError(f"{source} does not exist")
    timeout = SQLITE_BUSY_TIMEOUT_MS / 1000
    reader = sqlite3.connect(source, timeout=timeout)
    try:
        writer = sqlite3.connect(target, timeout=timeout)
        try:
            reader.backup(writer)  # pages=-1: all of it in one step, one snapshot
            problems = writer.execute("PRAGMA quick_check").fetchall()
        finally:
            writer.close()
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"cannot copy {source}: {exc}") from None
    finally:
        reader.close()
    if problems != [("ok",)]:
        raise BackupError(f"the copy of {source} fails its check: {problems[:3]}")


def _file_revision(path: Path) -> str | None:
    engine = open_engine(f"sqlite:///{path}")
    try:
        return current_revision(engine)
    finally:
        engine.dispose()


def _has_tables(url: URL) -> bool:
    """Whether the database holds any table (a missing SQLite file holds none)."""
    if url.get_backend_name() == "sqlite":
        path = Path(_sqlite_path(url))
        if not path.exists() or path.stat().st_size == 0:
            return False
    engine = open_engine(url)
    try:
        with engine.connect() as connection:
            return bool(sa.inspect(connection).get_table_names())
    except sa.exc.SQLAlchemyError as exc:
        raise BackupError(
            f"cannot open {redacted(url)}: {getattr(exc, 'orig', None) or exc}"
        ) from None
    finally:
        engine.dispose()


def _run(tool: str, options: list[str], url: URL) -> None:
    """Run a PostgreSQL client tool on ``url``; the password travels in its environment."""
    program = shutil.which(tool)
    if program is None:
        raise ToolNotFound(f"{tool} is not installed; {_INSTALL_HINT}")
    conninfo = url.set(drivername="postgresql", password=None).render_as_string()
    environment = dict(os.environ)
    if url.password is not None:
        environment["PGPASSWORD"] = str(url.password)
    done = subprocess.run(  # noqa: S603 - a PostgreSQL tool with our own arguments, no shell
        [program, *options, f"--dbname={conninfo}"],
        env=environment,
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        reason = done.stderr.strip().splitlines() or [f"exit status {done.returncode}"]
        raise BackupError(f"{tool} failed on {redacted(url)}: {reason[-1]}")
