"""The batch the line is packing now, as central last announced it on the ``batch`` topic.

Central keeps the announcement retained, so the broker hands it to the station on every
(re)subscribe; an empty retained payload means no batch is open. The paho thread calls
:meth:`CurrentBatch.apply` with each payload and the capture loop reads
:attr:`CurrentBatch.announcement`; a lock keeps the two apart.

A payload that is not a valid announcement is logged with the reason and counted, and the
station then knows no batch (it checks nothing against a batch it cannot read rather than
against the previous one, which the bad message was meant to replace).
"""

from __future__ import annotations

import logging
import threading

from pydantic import ValidationError

from linetrace.broker.contract.messages import BatchAnnouncement

__all__ = ["CurrentBatch"]

logger = logging.getLogger(__name__)


class CurrentBatch:
    """The latest batch announcement (None: no batch open, or an unreadable one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._announcement: BatchAnnouncement | None = None
        self._invalid = 0
        self._heard = False

    @property
    def announcement(self) -> BatchAnnouncement | None:
        with self._lock:
            return self._announcement

    @property
    def heard(self) -> bool:
        """Whether any message came on the batch topic since start."""
        with self._lock:
            return self._heard

    @property
    def invalid(self) -> int:
        """Announcements refused as unreadable since start."""
        with self._lock:
            return self._invalid

    def apply(self, payload: bytes) -> BatchAnnouncement | None:
        """Take one payload from the ``batch`` topic; returns the batch now in force."""
        announcement: BatchAnnouncement | None = None
        with self._lock:
            self._heard = True
        if payload.strip():
            try:
                announcement = BatchAnnouncement.model_validate_json(payload)
            except ValidationError as exc:
                with self._lock:
                    self._invalid += 1
                    self._announcement = None
                logger.error(
                    "batch announcement refused, no batch checks until a valid one: %s",
                    _describe(exc),
                )
                return None
        with self._lock:
            previous, self._announcement = self._announcement, announcement
        if announcement is None:
            if previous is not None:
                logger.info("batch %s closed; no batch checks until the next", previous.batch_id)
        elif previous is None or previous.batch_id != announcement.batch_id:
            logger.info(
                "batch %s: GTIN %s lot %s (expiry %s)",
                announcement.batch_id,
                announcement.gtin,
                announcement.lot,
                announcement.expiry,
            )
        return announcement


def _describe(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(part) for part in error['loc']) or 'payload'}: {error['msg']}"
        for error in exc.errors()[:5]
    )
