"""``GET /healthz``: is this instance able to do its job, and what has the ingest done.

503 when the database cannot be reached: without it nothing can be stored or served.
A lost broker, a refused subscription or an ingest writer that failed only degrades the
instance (the API still answers), so it stays 200 with ``status: degraded`` and the
probe's body says why.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Literal

import sqlalchemy as sa
from fastapi import APIRouter, Response, status
from pydantic import BaseModel, Field
from sqlalchemy.engine import Engine

from linetrace.central.api.deps import EngineDep, IngestDep
from linetrace.central.auth.guard import public
from linetrace.central.store import redacted

__all__ = ["HealthReport", "router"]

log = logging.getLogger(__name__)

router = APIRouter(tags=["health"], dependencies=[public()])


class DatabaseHealth(BaseModel):
    ok: bool = Field(description="True when a query just succeeded.")
    url: str = Field(description="The database URL, without its password.")
    revision: str | None = Field(description="The schema revision the database is at.")
    error: str | None = Field(default=None, description="Why the database check failed.")


class IngestHealth(BaseModel):
    connected: bool = Field(description="True while connected to the broker.")
    subscribed: bool = Field(description="True once the events subscription is granted.")
    writing: bool = Field(
        description="True while the writer runs; false after it failed (see the log): "
        "nothing more is committed or acknowledged, and the broker keeps the rest."
    )
    received: int = Field(description="Messages taken off the broker since start.")
    stored: int = Field(description="Events stored for the first time.")
    duplicates: int = Field(description="Events already stored (resends), skipped.")
    dead_lettered: int = Field(description="Messages refused into the dead letters.")
    conflicts: int = Field(description="Events whose event_id came again with other content.")
    acks_published: int = Field(description="Watermarks published on stations' ack topics.")
    dropped: int = Field(description="QoS 0 messages dropped on a full queue.")
    acked: int = Field(description="Messages acknowledged to the broker after their commit.")
    stale_acks: int = Field(
        description="Committed messages not acknowledged because they came on an earlier "
        "connection; the broker sends them again and they count as duplicates."
    )
    receiver_restarts: int = Field(
        description="Times the receiver process (central's MQTT connection) died and was "
        "started again."
    )
    store_failures: int = Field(description="Batch writes that found the database down.")
    store_error: str | None = Field(
        default=None,
        description="Why batches cannot be stored now (the database is down, its disk is "
        "full); null once a batch commits again. Meanwhile nothing is acknowledged and the "
        "broker keeps the messages.",
    )
    queued: int = Field(description="Messages received and not yet committed.")
    last_commit_at: datetime | None = Field(description="When the last batch was committed.")


class HealthReport(BaseModel):
    status: Literal["ok", "degraded", "failing"] = Field(
        description="failing: database down (HTTP 503); degraded: broker lost, the "
        "ingest's writer stopped or it cannot store (see ingest.store_error); else ok."
    )
    database: DatabaseHealth = Field(description="The database check.")
    ingest: IngestHealth | None = Field(
        description="The ingest's state; null when this instance runs the API only."
    )


@router.get(
    "/healthz",
    response_model=HealthReport,
    responses={503: {"model": HealthReport, "description": "The database is down."}},
)
def healthz(engine: EngineDep, ingest: IngestDep, response: Response) -> HealthReport:
    database = _check_database(engine)
    ingest_health = None if ingest is None else IngestHealth(**ingest.stats().as_dict())
    if not database.ok:
        response.status_code = status.HTTP_503_SERVICE_UNAVAILABLE
        state: Literal["ok", "degraded", "failing"] = "failing"
    elif ingest_health is not None and (
        not (ingest_health.subscribed and ingest_health.writing)
        or ingest_health.store_error is not None
    ):
        state = "degraded"
    else:
        state = "ok"
    return HealthReport(status=state, database=database, ingest=ingest_health)


def _check_database(engine: Engine) -> DatabaseHealth:
    url = redacted(engine.url)
    try:
        with engine.connect() as connection:
            revision = connection.execute(sa.text("SELECT version_num FROM alembic_version"))
            return DatabaseHealth(ok=True, url=url, revision=revision.scalar_one_or_none())
    except sa.exc.SQLAlchemyError as exc:
        reason = (str(getattr(exc, "orig", None) or exc).strip().splitlines() or ["error"])[0]
        log.warning("health check: database %s unreachable: %s", url, reason)
        return DatabaseHealth(ok=False, url=url, revision=None, error=reason)
