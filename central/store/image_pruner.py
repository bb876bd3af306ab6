"""Pruning no-read pictures on a timer while ``linetrace central run`` runs.

One daemon thread per central: a prune at start, then every ``prune_interval_s``. Each
prune is one short transaction (:func:`~linetrace.central.store.images.prune_images`);
several central instances pruning the same database do no harm, since deleting what is
already gone deletes nothing. A failed prune (the database away for a moment) is logged
and tried again at the next tick: pictures waiting a little longer lose nothing.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.store.images import ImagePrune, prune_images

if TYPE_CHECKING:  # the settings are only read: store/ does not import the config
    from linetrace.central.config import ImagesSettings

__all__ = ["ImagePruner", "prune_now"]

log = logging.getLogger(__name__)

_MIB = 1024 * 1024


def prune_now(engine: Engine, settings: ImagesSettings, now: datetime | None = None) -> ImagePrune:
    """One prune under ``settings``, committed."""
    with engine.begin() as connection:
        return prune_images(
            connection,
            now=now or datetime.now(UTC),
            keep_days=settings.keep_days,
            max_total_bytes=settings.max_total_mb * _MIB,
        )


class ImagePruner:
    """Runs :func:`prune_now` at start and then every ``settings.prune_interval_s``."""

    def __init__(self, engine: Engine, settings: ImagesSettings) -> None:
        self._engine = engine
        self._settings = settings
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="image-pruner", daemon=True)

    def start(self) -> ImagePruner:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                done = prune_now(self._engine, self._settings)
            except sa.exc.SQLAlchemyError as exc:
                log.warning("pruning no-read pictures failed (tried again later): %s", exc)
            else:
                if done.expired or done.over_size:
                    log.info("no-read pictures pruned: %s", done.as_json())
            self._stop.wait(self._settings.prune_interval_s)
