"""``linetrace central backup --to FILE`` and ``linetrace central restore --from FILE``.

Backup is safe while central runs (SQLite's online backup, or ``pg_dump``); restore goes
into the configured database, which must be new or empty unless ``--force`` (stop central
first). See :mod:`linetrace.central.store.backup` and deploy/README.md.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from linetrace.central.cli.common import add_config, refuse, settings_of

__all__ = ["register"]


def register(verbs: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``backup`` and ``restore``."""
    backup = verbs.add_parser(
        "backup", help="copy the database to a file (safe while central runs and writes)"
    )
    add_config(backup)
    backup.add_argument("--to", type=Path, required=True, metavar="FILE", help="a new file")
    backup.add_argument("--force", action="store_true", help="replace FILE if it exists")
    backup.set_defaults(handler=_backup)
    restore = verbs.add_parser(
        "restore", help="restore a backup into the configured (new or empty) database"
    )
    add_config(restore)
    restore.add_argument(
        "--from", dest="source", type=Path, required=True, metavar="FILE", help="a backup"
    )
    restore.add_argument(
        "--force", action="store_true", help="replace what the database holds (central stopped)"
    )
    restore.set_defaults(handler=_restore)


def _backup(args: argparse.Namespace) -> int:
    from linetrace.central.store import redacted
    from linetrace.central.store.backup import BackupError, backup

    settings = settings_of(args)
    if settings is None:
        return 2
    try:
        copied = backup(settings.database_url, args.to, force=args.force)
    except BackupError as exc:
        return refuse(args, str(exc))
    revision = f", revision {copied.revision}" if copied.revision else ""
    print(
        f"backed up {redacted(settings.database_url)} to {copied.target} ({copied.size} bytes{revision})"
    )
    return 0


def _restore(args: argparse.Namespace) -> int:
    from linetrace.central.store.backup import BackupError, restore

    settings = settings_of(args)
    if settings is None:
        return 2
    try:
        copied = restore(args.source, settings.database_url, force=args.force)
    except BackupError as exc:
        return refuse(args, str(exc))
    print(
        f"restored {args.source} into {copied.target} (revision {copied.revision}; "
        "central's start or `linetrace central migrate` upgrades it)"
    )
    return 0
