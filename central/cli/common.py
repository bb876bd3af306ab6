"""What every ``linetrace central`` verb shares: the ``--config`` option, loading the
settings, migrating, opening the database for one transaction, and refusing with a message.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Callable

    from sqlalchemy.engine import Connection

    from linetrace.central.config import CentralSettings

__all__ = [
    "add_config",
    "in_database",
    "migrated",
    "positive",
    "refuse",
    "settings_of",
    "short_reason",
]


def add_config(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--config", type=Path, metavar="FILE", help="TOML settings (environment overrides it)"
    )


def positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} is not positive")
    return value


def settings_of(args: argparse.Namespace) -> CentralSettings | None:
    from linetrace.central.config import load_settings
    from linetrace.errors import ConfigError

    try:
        return load_settings(args.config)
    except ConfigError as exc:
        print(f"linetrace central: {exc}", file=sys.stderr)
        return None


def migrated(settings: CentralSettings) -> bool:
    """Apply the migrations; on failure say why (without the password) and return False."""
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.store import redacted, upgrade
    from linetrace.private import private_folder

    url = redacted(settings.database_url)
    try:
        if settings.database.url is None:
            # The default database lives in the service's own folder: only its user reads
            # it (one made 0755 by an older version is tightened here).
            private_folder(settings.state_dir)
        revision = upgrade(settings.database_url)
    except SQLAlchemyError as exc:
        print(f"linetrace central: cannot migrate {url}: {short_reason(exc)}", file=sys.stderr)
        return False
    except OSError as exc:
        print(f"linetrace central: cannot open {url}: {exc}", file=sys.stderr)
        return False
    print(f"{url} is at revision {revision}", file=sys.stderr)
    return _first_admin(settings)


def _first_admin(settings: CentralSettings) -> bool:
    """Make the first admin on a database with no account, and say its password once."""
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.auth.bootstrap import FIRST_ADMIN, ensure_first_admin
    from linetrace.central.store import open_engine

    engine = open_engine(settings.database_url)
    try:
        password = ensure_first_admin(engine)
    except SQLAlchemyError as exc:
        reason = short_reason(exc)
        print(f"linetrace central: cannot create the first admin: {reason}", file=sys.stderr)
        return False
    finally:
        engine.dispose()
    if password is not None:
        print(
            f"linetrace central: created user {FIRST_ADMIN!r} with one-time password "
            f"{password} (shown only now; the login page asks for a new one)",
            file=sys.stderr,
        )
    return True


def short_reason(exc: BaseException) -> str:
    """The first line of a database error, without SQLAlchemy's wrapping."""
    return (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["error"])[0]


def in_database(args: argparse.Namespace, work: Callable[[Connection], None]) -> int:
    """Run ``work`` in one transaction on the configured database; 1 if it is unusable."""
    from sqlalchemy.exc import SQLAlchemyError

    from linetrace.central.store import open_engine

    settings = settings_of(args)
    if settings is None:
        return 2
    engine = open_engine(settings.database_url)
    try:
        with engine.begin() as connection:
            work(connection)
    except SQLAlchemyError as exc:
        return refuse(args, f"{short_reason(exc)} (run: linetrace central migrate)")
    finally:
        engine.dispose()
    return 0


def refuse(args: argparse.Namespace, message: str, *, status: int = 1) -> int:
    verb = " ".join(part for part in (args.verb, getattr(args, "action", None)) if part)
    print(f"linetrace central {verb}: {message}", file=sys.stderr)
    return status
