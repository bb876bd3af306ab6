"""What a lot report answers (:class:`LotReport`): the auditor's one page about a lot.

Filled by :mod:`.lot_report`; the API returns it as its response model (field
descriptions are its documentation) and the lot page renders it.
"""

from __future__ import annotations

from typing import Literal

from pydantic import AwareDatetime, BaseModel, Field

from linetrace.central.derive.production_batches import Batch
from linetrace.central.query.trace_models import Mismatch, MismatchCount
from linetrace.central.relay.portal_check import ElementStatus

__all__ = ["Completeness", "CompletenessState", "KindCount", "LotReport", "RelayCounts"]

CompletenessState = Literal["complete", "waiting", "lost"]


class KindCount(BaseModel):
    """How many events of one kind one station recorded for the lot."""

    station: str = Field(description="SITE/LINE/STATION.")
    kind: Literal["read", "pack", "noread"] = Field(
        description="read: reads of the lot's codes; pack: pack events that packed its "
        "items; noread: no-reads on the line while one of its batches ran."
    )
    events: int = Field(description="Events counted.")


class Completeness(BaseModel):
    """Whether every event a station numbered while it handled the lot is stored."""

    station: str = Field(description="SITE/LINE/STATION.")
    first_seen: AwareDatetime = Field(description="The station's first event of the lot (UTC).")
    last_seen: AwareDatetime = Field(description="Its last event of the lot (UTC).")
    first_seq: int = Field(description="seq of that first event.")
    last_seq: int = Field(description="seq of that last event.")
    stored: int = Field(description="Distinct seqs stored from first_seq to last_seq.")
    missing: int = Field(description="Seqs in that span with no stored event.")
    waiting: int = Field(
        description="Of those, seqs above the station's watermark: it may still resend them."
    )
    missing_runs: list[tuple[int, int]] = Field(
        description="The first runs of missing seqs in the span that are still awaited."
    )
    state: CompletenessState = Field(
        description="complete: nothing missing; waiting: every missing seq may still "
        "arrive; lost: seqs below the watermark are gone (purged or deleted)."
    )
    gap_alarm: bool = Field(description="True while a seq_gap alarm is open for the station.")


class RelayCounts(BaseModel):
    """What the relay did with the lot's events, for one target."""

    target: str = Field(description="The relay target's name.")
    queued: int = Field(description="Waiting to be sent.")
    sent: int = Field(description="Sent, no answer yet.")
    accepted: int = Field(description="Accepted by the target.")
    rejected: int = Field(description="Rejected by the target (retry once fixed).")
    oldest_undelivered_at: AwareDatetime | None = Field(
        description="Queue time of the oldest event not yet accepted or rejected."
    )


class LotReport(BaseModel):
    """Everything an auditor proves about one lot, on one page."""

    gtin: str = Field(description="GTIN-14 of the lot's product.")
    lot: str = Field(description="The lot (GS1 AI 10).")
    traceability_code: str = Field(description="(01) GTIN-14 (10) lot.")
    product_name: str | None = Field(description="From the product master data, if set.")
    generated_at: AwareDatetime = Field(description="When this report was made (UTC).")
    first_seen: AwareDatetime | None = Field(description="First read of the lot (UTC).")
    last_seen: AwareDatetime | None = Field(description="Last read of the lot (UTC).")
    items: int = Field(description="Distinct items (serials) read.")
    batches: list[Batch] = Field(description="The production batches of the lot.")
    counts: list[KindCount] = Field(description="Events per station and kind.")
    completeness: list[Completeness] = Field(
        description="Per station: sequence gaps over the span it handled the lot."
    )
    mismatch_counts: list[MismatchCount] = Field(description="Failed checks, counted.")
    mismatches: list[Mismatch] = Field(description="The first failed checks.")
    relay: list[RelayCounts] = Field(description="Delivery of the lot's events per target.")
    elements: list[ElementStatus] = Field(
        description="The 10 minimum elements of Circular 02/2024, each with its source."
    )
    missing_elements: list[str] = Field(
        description="The required elements the lot lacks, each with how to fill it in."
    )
