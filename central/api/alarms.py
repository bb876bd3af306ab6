"""``GET /api/alarms`` and ``POST /api/alarms/{id}/ack``: what needs an operator's eye.

Acknowledging says someone has seen an alarm; it stays open until its cause is resolved,
or for good where only a person can resolve it (an event conflict). How each kind clears:

- ``seq_gap``: when the missing seqs arrive (the watermark passes the gap);
- ``seq_reused``: after ``ingest.seq_reuse_alarm_clear_after_s`` without a new event
  under a seq already stored (the station's edge was fixed, or its new seqs passed the
  old ones);
- ``dead_letters``: after ``ingest.dead_letter_alarm_window_s`` without a dead letter from
  that source (the station registered or enabled, its edge upgraded);
- ``event_conflict``: never by itself; acknowledge it once the two versions are examined.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.api.params import RowId
from linetrace.central.audit import record
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.auth.scoping import check_change
from linetrace.central.derive.alarms import Alarm, AlarmNotFound, acknowledge_alarm, list_alarms
from linetrace.central.query.events import MAX_PAGE_SIZE

__all__ = ["AckIn", "AlarmOut", "router"]

router = APIRouter(prefix="/api", tags=["alarms"])


class AlarmOut(BaseModel):
    id: int = Field(description="The alarm's id.")
    raised_at: datetime = Field(description="When it was raised.")
    station: str | None = Field(description="SITE/LINE/STATION it concerns, if one.")
    kind: str = Field(
        description="What happened: event_conflict, seq_gap, seq_reused, dead_letters, ..."
    )
    key: str = Field(description="What it is about, within its kind (an event_id, a seq).")
    severity: str = Field(description="info, warning or critical.")
    message: str = Field(description="In words an operator can act on.")
    details: dict[str, Any] | None = Field(description="Machine-readable particulars.")
    cleared_at: datetime | None = Field(description="When its cause was resolved; null: open.")
    acknowledged_by: str | None = Field(description="Who acknowledged it.")
    acknowledged_at: datetime | None = Field(description="When it was acknowledged.")
    acknowledged_comment: str | None = Field(
        default=None, description="What the acknowledging person wrote."
    )


class AckIn(BaseModel):
    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"comment": "Camera lens cleaned, watching the rate"}]},
    )

    by: str | None = Field(
        default=None,
        min_length=1,
        max_length=128,
        description="Who has seen the alarm; the signed-in person when left out (required "
        "without one). A signed-in person is recorded whatever this says.",
    )
    comment: str | None = Field(
        default=None, max_length=1000, description="What they found or did, for the record."
    )


@router.get(
    "/alarms",
    dependencies=[allow(Permission.VIEW)],
    response_model=list[AlarmOut],
    responses=responses(422),
)
def get_alarms(
    engine: EngineDep,
    open_only: Annotated[
        bool, Query(alias="open", description="Only alarms not cleared (default).")
    ] = True,
    station: Annotated[str | None, Query(description="Only this SITE/LINE/STATION.")] = None,
    kind: Annotated[str | None, Query(max_length=64, description="Only this kind.")] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE, description="Most alarms.")] = 100,
    *,
    principal: CurrentPrincipal,
) -> list[AlarmOut]:
    with engine.connect() as connection:
        found = list_alarms(
            connection,
            open_only=open_only,
            station=station,
            kind=kind,
            limit=limit,
            # In the query, so that a scoped reader's page is full, not cut after the limit.
            station_prefixes=None
            if principal.unscoped
            else [
                f"{scope.site}/{scope.line}/" if scope.line else f"{scope.site}/"
                for scope in principal.scopes
            ],
        )
    return [_out(alarm) for alarm in found]


@router.post(
    "/alarms/{alarm_id}/ack",
    dependencies=[allow(Permission.OPERATE)],
    response_model=AlarmOut,
    responses=responses(400, 404, 422),
)
def ack_alarm(alarm_id: RowId, body: AckIn, request: Request, engine: EngineDep) -> AlarmOut:
    """Record who has seen an alarm. It does not clear it: ``seq_gap`` clears when the gap
    fills, ``seq_reused`` after ``ingest.seq_reuse_alarm_clear_after_s`` without a new
    reused seq, ``dead_letters`` after a window without a dead letter from its source,
    ``station_degraded`` and ``station_offline`` when the station reports online again;
    ``event_conflict`` and ``events_lost`` stay open for the record (new losses after an
    acknowledgement open a new ``events_lost`` alarm); the threshold alarms
    (``read_rate``, ``noreads``, a silent station, ``relay_stuck``) when their condition
    ends. The first acknowledgement and its comment stand."""
    principal = getattr(request.state, "principal", None)
    by = principal.name if principal is not None else body.by
    if by is None:
        raise HTTPException(
            status.HTTP_422_UNPROCESSABLE_CONTENT, "by: say who acknowledges the alarm"
        )
    comment = body.comment.strip() if body.comment else None
    try:
        with engine.begin() as connection:
            alarm = acknowledge_alarm(connection, alarm_id, by, comment or None)
            if principal is not None:  # another line's alarm: rolled back, not acknowledged
                check_change(principal, alarm.station)
            record(
                connection,
                actor=by,
                action="alarm.acknowledge",
                target=f"alarm/{alarm_id}",
                details={"kind": alarm.kind, "station": alarm.station, "comment": comment},
            )
    except AlarmNotFound as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from None
    return _out(alarm)


def _out(alarm: Alarm) -> AlarmOut:
    return AlarmOut(
        id=alarm.id,
        raised_at=alarm.raised_at,
        station=alarm.station,
        kind=alarm.kind,
        key=alarm.key,
        severity=alarm.severity,
        message=alarm.message,
        details=alarm.details,
        cleared_at=alarm.cleared_at,
        acknowledged_by=alarm.acknowledged_by,
        acknowledged_at=alarm.acknowledged_at,
        acknowledged_comment=alarm.acknowledged_comment,
    )
