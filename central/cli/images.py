"""``linetrace central retention images [--keep-days N] [--max-total-mb M]``: let no-read
pictures go by age and total size, oldest first, now (``central run`` does it hourly).

The limits default to the config's ``[images]`` section; the options override them for
this run. Prints one JSON line: how many pictures went for their age, how many for the
size limit, the bytes freed, and what is kept.
"""

from __future__ import annotations

import argparse
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from linetrace.central.cli.common import in_database, positive, settings_of

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

__all__ = ["add_images_action"]

_MIB = 1024 * 1024


def add_images_action(actions: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``retention images`` to the retention verb's actions."""
    images = actions.add_parser(
        "images", help="delete no-read pictures past [images] keep_days or max_total_mb"
    )
    # Not add_config: a subparser's default would hide a --config given before "images".
    images.add_argument("--config", type=Path, metavar="FILE", default=argparse.SUPPRESS)
    images.add_argument("--keep-days", type=positive, metavar="N", help="override keep_days")
    images.add_argument("--max-total-mb", type=positive, metavar="M", help="override max_total_mb")
    images.set_defaults(handler=_prune)


def _prune(args: argparse.Namespace) -> int:
    from linetrace.central.store.images import prune_images

    settings = settings_of(args)
    if settings is None:
        return 2
    keep_days = args.keep_days or settings.images.keep_days
    max_mb = args.max_total_mb or settings.images.max_total_mb

    def work(connection: Connection) -> None:
        done = prune_images(
            connection,
            now=datetime.now(UTC),
            keep_days=keep_days,
            max_total_bytes=max_mb * _MIB,
        )
        print(json.dumps(done.as_json()))

    return in_database(args, work)
