"""What the dashboard shows, as the API returns it: sites, lines, stations, figures.

Mutable station figures: the query fills one in several passes (status, counts, checks,
alarms), each a grouped query of its own.
"""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

__all__ = [
    "Dashboard",
    "LineBatch",
    "LineFigures",
    "SiteFigures",
    "StationFigures",
    "StationState",
    "TrendPoint",
]

StationState = Literal["online", "degraded", "offline", "unknown"]


class StationFigures(BaseModel):
    """One station's state and figures."""

    site: str
    line: str
    station: str
    state: StationState = Field(
        default="unknown",
        description="From its retained status and last will; a status older than 30 s is "
        "offline; unknown before its first status.",
    )
    stale: bool = Field(default=False, description="Offline because its status went quiet.")
    status_at: datetime | None = Field(default=None, description="When its last status came.")
    fps: float | None = Field(default=None, description="Camera frames captured per second.")
    outbox_depth: float | None = Field(
        default=None, description="Events its outbox holds that central has not confirmed."
    )
    reads_minute: int = Field(default=0, description="Reads over the last 60 s.")
    noreads_minute: int = Field(default=0, description="No-reads over the last 60 s.")
    reads_hour: int = Field(
        default=0, description="Reads over the last hour: the current UTC minute and the 59 before."
    )
    noreads_hour: int = Field(
        default=0,
        description="No-reads over the last hour: the current UTC minute and the 59 before.",
    )
    read_rate_minute: float | None = Field(
        default=None, description="reads / (reads + no-reads), last 60 s; null when none."
    )
    read_rate_hour: float | None = Field(
        default=None,
        description="reads / (reads + no-reads), last hour (as reads_hour); null when none.",
    )
    mismatches_hour: int = Field(default=0, description="Events with a failed check, last hour.")
    last_event_at: datetime | None = Field(default=None, description="Its newest event's time.")
    open_alarms: int = Field(default=0, description="Alarms raised and not cleared.")


class TrendPoint(BaseModel):
    """One minute of a line's reads."""

    at: datetime = Field(description="Start of the minute (UTC).")
    reads: int
    noreads: int
    read_rate: float | None


class LineBatch(BaseModel):
    """The production batch open on a line."""

    id: int
    gtin: str
    lot: str
    started_at: datetime
    target_quantity: int | None


class LineFigures(BaseModel):
    site: str
    line: str
    batch: LineBatch | None = Field(description="The batch open on the line, if any.")
    read_rate_minute: float | None
    read_rate_hour: float | None
    open_alarms: int
    stations: list[StationFigures]
    trend: list[TrendPoint] = Field(
        description="Per-minute reads over the last hour: the current UTC minute and the 59 "
        "before, the minutes with reads or no-reads only."
    )


class SiteFigures(BaseModel):
    site: str
    lines: list[LineFigures]


class Dashboard(BaseModel):
    at: datetime = Field(description="When the figures were taken (UTC).")
    sites: list[SiteFigures]
