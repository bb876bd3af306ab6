"""``GET /api/dashboard`` (the operators' figures) and ``/api/me/layouts`` (their layouts).

The figures are taken at most once per :data:`CACHE_S` per scope and shared by every
screen asking meanwhile: a control room with twenty wall screens costs the database what
one does. A layout is the person's own: saved under their account name, never another's.
"""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import sqlalchemy as sa
from fastapi import APIRouter, HTTPException, Path, Request, status
from pydantic import BaseModel, ConfigDict, Field

from linetrace.central.api.deps import EngineDep
from linetrace.central.api.errors import responses
from linetrace.central.auth.guard import CurrentPrincipal, allow
from linetrace.central.auth.roles import Permission
from linetrace.central.query.dashboard import Dashboard, dashboard
from linetrace.central.store.dialect_insert import dialect_insert
from linetrace.central.store.layout_tables import LAYOUT_NAME_LENGTH, dashboard_layouts
from linetrace.central.store.trace_tables import batches

__all__ = ["CACHE_S", "Layout", "LayoutOut", "router"]

router = APIRouter(prefix="/api", tags=["dashboard"], dependencies=[allow(Permission.VIEW)])

# Below the page's refresh period (10 s), above what a burst of screens opening takes.
CACHE_S = 2.0
# Entries a layout may list: far more than a plant's stations, bounded against junk.
MAX_ENTRIES = 500
MAX_LAYOUTS = 50
_CACHE_LOCK = threading.Lock()
_PART = r"^[A-Za-z0-9_.-]{1,64}(/[A-Za-z0-9_.-]{1,64}){0,2}$"


class Layout(BaseModel):
    """Which sites, lines or stations a screen shows, in which order, and how densely."""

    model_config = ConfigDict(extra="forbid")

    show: list[Annotated[str, Field(pattern=_PART)]] = Field(
        default_factory=list,
        max_length=MAX_ENTRIES,
        description="SITE, SITE/LINE or SITE/LINE/STATION to show, in this order; empty "
        "shows everything in scope.",
        examples=[["hcm1/L1", "hcm1/L2/pack-1"]],
    )
    density: Literal["full", "compact"] = Field(
        default="full", description="compact hides the per-station figures but the state."
    )


class LayoutOut(Layout):
    name: str
    updated_at: datetime


LayoutName = Annotated[
    str, Path(min_length=1, max_length=LAYOUT_NAME_LENGTH, pattern=r"^[^/\x00-\x1f]+$")
]


@router.get("/dashboard", response_model=Dashboard)
def get_dashboard(request: Request, engine: EngineDep, principal: CurrentPrincipal) -> Dashboard:
    scopes = tuple(sorted(str(scope) for scope in principal.scopes))
    cache: dict[tuple[str, ...], tuple[float, Any, Dashboard]] = _cache(request)
    with engine.connect() as connection:
        # A batch started or closed shows at once, whatever the cache's age.
        batches_now = tuple(
            connection.execute(
                sa.select(sa.func.max(batches.c.id), sa.func.count(batches.c.closed_at))
            ).one()
        )
        found = cache.get(scopes)
        if found is not None and time.monotonic() - found[0] < CACHE_S and found[1] == batches_now:
            return found[2]
        figures = dashboard(connection, datetime.now(UTC), principal.where)
    cache[scopes] = (time.monotonic(), batches_now, figures)
    return figures


def _cache(request: Request) -> dict[tuple[str, ...], tuple[float, Any, Dashboard]]:
    state = request.app.state
    with _CACHE_LOCK:
        if not hasattr(state, "dashboard_cache"):
            state.dashboard_cache = {}
        found: dict[tuple[str, ...], tuple[float, Any, Dashboard]] = state.dashboard_cache
        return found


@router.get("/me/layouts", response_model=list[LayoutOut])
def get_layouts(engine: EngineDep, principal: CurrentPrincipal) -> list[LayoutOut]:
    t = dashboard_layouts.c
    with engine.connect() as connection:
        rows = connection.execute(
            sa.select(t.name, t.layout, t.updated_at)
            .where(t.user_name == principal.name)
            .order_by(t.name)
        ).all()
    return [LayoutOut(name=name, updated_at=at, **layout) for name, layout, at in rows]


@router.put("/me/layouts/{name}", response_model=LayoutOut, responses=responses(400, 409, 422))
def put_layout(
    name: LayoutName, body: Layout, engine: EngineDep, principal: CurrentPrincipal
) -> LayoutOut:
    t = dashboard_layouts.c
    now = datetime.now(UTC)
    values = {"layout": body.model_dump(), "updated_at": now}
    with engine.begin() as connection:
        count = connection.execute(
            sa.select(sa.func.count()).where(t.user_name == principal.name, t.name != name)
        ).scalar_one()
        if count >= MAX_LAYOUTS:
            raise HTTPException(
                status.HTTP_409_CONFLICT, f"at most {MAX_LAYOUTS} layouts per person"
            )
        connection.execute(
            dialect_insert(connection, dashboard_layouts)
            .values(user_name=principal.name, name=name, **values)
            .on_conflict_do_update(index_elements=["user_name", "name"], set_=values)
        )
    return LayoutOut(name=name, updated_at=now, **body.model_dump())


@router.delete("/me/layouts/{name}", status_code=204, responses=responses(404, 422))
def delete_layout(name: LayoutName, engine: EngineDep, principal: CurrentPrincipal) -> None:
    t = dashboard_layouts.c
    with engine.begin() as connection:
        deleted = connection.execute(
            dashboard_layouts.delete().where(t.user_name == principal.name, t.name == name)
        ).rowcount
    if not deleted:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no layout named {name!r}")
