"""What a trace query returns: one code's lineage (:class:`CodeTrace`), one lot's (:class:`LotTrace`).

Filled by :mod:`.code_trace` and :mod:`.lot_trace`. They live with the queries, not the
routers, so data flows one way (query -> api): the API returns them as its response
models, their field descriptions are its documentation (OpenAPI), and the CLI prints
them as JSON.
"""

from __future__ import annotations

from uuid import UUID

from pydantic import AwareDatetime, BaseModel, Field

from linetrace.central.derive.production_batches import Batch
from linetrace.central.derive.products import Product
from linetrace.central.query.trace_limits import MAX_CONTENTS, MAX_LISTED, MISMATCHES_LISTED

__all__ = [
    "CodeTrace",
    "ContainerOut",
    "ContentNode",
    "ItemOut",
    "ItemsPage",
    "LotTrace",
    "Mismatch",
    "MismatchCount",
    "NoReadCount",
    "Sighting",
    "StationGap",
    "StationSummary",
    "StayOut",
]


class Sighting(BaseModel):
    """One time a station saw the code."""

    event_id: UUID = Field(description="The scan event.")
    station: str = Field(description="SITE/LINE/STATION that saw it.")
    kind: str = Field(description="read, noread or pack.")
    role: str = Field(description="code: the event's own code; child: listed in a pack event.")
    observed_at: AwareDatetime = Field(description="When, in the station's UTC offset.")
    text: str | None = Field(description="The event's decoded text.")


class Mismatch(BaseModel):
    """One failed check of one event."""

    event_id: UUID = Field(description="The scan event that failed the check.")
    station: str = Field(description="SITE/LINE/STATION of the event.")
    observed_at: AwareDatetime = Field(description="When the event was observed (UTC).")
    source: str = Field(description="central (batch checks) or edge (the station's own).")
    check: str = Field(description="Which check failed, e.g. gtin, lot, expired, pack.")
    detail: str = Field(description="Why it failed.")
    batch_id: int | None = Field(description="The batch open on the line at the time.")
    code: str | None = Field(description="The event's decoded text.")


class StayOut(BaseModel):
    """A child's stay in a parent container."""

    parent: str = Field(description="The container's key, (00) + SSCC.")
    child: str = Field(description="The child's key.")
    packed_at: AwareDatetime = Field(description="When it was packed (UTC).")
    unpacked_at: AwareDatetime | None = Field(description="When it left; null while inside.")
    station: str = Field(description="The station that saw the packing.")


class ContentNode(BaseModel):
    """One code inside a container, with what it contains in turn."""

    code: str = Field(description="The child's key.")
    packed_at: AwareDatetime = Field(description="When it was packed (UTC).")
    station: str = Field(description="The station that saw the packing.")
    contents: list[ContentNode] = Field(description="What this child contains now.")


class CodeTrace(BaseModel):
    """The lineage of one item or logistic unit."""

    code: str = Field(description="The code as given.")
    key: str = Field(description="The canonical key: (01)GTIN(21)serial, (00)SSCC or raw text.")
    kind: str = Field(description="item, sscc or raw.")
    gtin: str | None = Field(description="GTIN-14 of an item.")
    serial: str | None = Field(description="Serial of an item.")
    sscc: str | None = Field(description="SSCC of a logistic unit.")
    lot: str | None = Field(description="The lot, from the code or from its reads.")
    product: Product | None = Field(description="Master data of the item's GTIN, if set.")
    batches: list[Batch] = Field(description="Batches open on the lines when it was seen.")
    containers: list[StayOut] = Field(description="The containers it is in now, nearest first.")
    packing_history: list[StayOut] = Field(
        description="Every stay in a container, oldest first (re-packing included)."
    )
    contents: list[ContentNode] = Field(description="What it contains now, recursively.")
    contents_truncated: bool = Field(description=f"True when over {MAX_CONTENTS} codes inside.")
    sightings: list[Sighting] = Field(description="Every time a station saw it, oldest first.")
    sightings_truncated: bool = Field(description=f"True when seen over {MAX_LISTED} times.")
    mismatches: list[Mismatch] = Field(description="Checks its events failed.")


class StationSummary(BaseModel):
    """What one station saw of a lot."""

    station: str = Field(description="SITE/LINE/STATION.")
    gtin: str | None = Field(description="The GTIN read with the lot (null: not GS1 keyed).")
    reads: int = Field(description="Read events carrying the lot.")
    items: int = Field(description="Distinct items (serials) among them.")
    first_seen: AwareDatetime = Field(description="First read of the lot here (UTC).")
    last_seen: AwareDatetime = Field(description="Last read of the lot here (UTC).")


class ItemOut(BaseModel):
    """One item of a lot."""

    gtin: str = Field(description="GTIN-14.")
    serial: str = Field(description="Serial (AI 21).")
    first_seen: AwareDatetime = Field(description="First read (UTC).")


class ItemsPage(BaseModel):
    """The lot's distinct items, a page at a time in (GTIN, serial) order."""

    count: int = Field(description="Distinct items (GTIN + serial) read with the lot.")
    items: list[ItemOut] = Field(description="This page.")
    next_after: str | None = Field(
        description="Pass as items_after for the next page; null on the last page."
    )


class ContainerOut(BaseModel):
    """A container holding items of the lot."""

    code: str = Field(description="The container's key, (00) + SSCC.")
    items: int = Field(description="Items of the lot packed into it (ever).")
    parents: list[str] = Field(description="The containers it is in now, nearest first.")


class NoReadCount(BaseModel):
    """No-reads of one station while one of the lot's batches ran."""

    batch_id: int = Field(description="The batch.")
    station: str = Field(description="SITE/LINE/STATION.")
    noreads: int = Field(description="No-read events while the batch was open.")


class MismatchCount(BaseModel):
    """How often one check failed at one station."""

    station: str = Field(description="SITE/LINE/STATION.")
    source: str = Field(description="central or edge.")
    check: str = Field(description="The check.")
    events: int = Field(description="Events that failed it.")


class StationGap(BaseModel):
    """A station's completeness: events above the watermark may still be missing."""

    station: str = Field(description="SITE/LINE/STATION.")
    watermark: int = Field(description="Every seq up to this one is stored.")
    max_seq_seen: int = Field(description="The highest seq stored.")
    missing: list[tuple[int, int]] = Field(description="First runs of missing seqs, inclusive.")


class LotTrace(BaseModel):
    """Everything stored about one lot."""

    lot: str = Field(description="The lot (AI 10).")
    gtins: list[str] = Field(description="GTINs seen or planned with this lot.")
    products: list[Product] = Field(description="Master data of those GTINs, where set.")
    batches: list[Batch] = Field(description="Batches that packed this lot, newest first.")
    items: ItemsPage = Field(description="Distinct items read with the lot.")
    stations: list[StationSummary] = Field(
        description="Per station and GTIN: reads, items, first and last read."
    )
    first_seen: AwareDatetime | None = Field(description="First read of the lot (UTC).")
    last_seen: AwareDatetime | None = Field(description="Last read of the lot (UTC).")
    containers: list[ContainerOut] = Field(description="Containers its items were packed into.")
    containers_truncated: bool = Field(description=f"True when over {MAX_LISTED} containers.")
    noreads: list[NoReadCount] = Field(description="No-reads on the line during its batches.")
    mismatch_counts: list[MismatchCount] = Field(description="Failed checks, counted.")
    mismatches: list[Mismatch] = Field(description=f"The first {MISMATCHES_LISTED} failures.")
    gaps: list[StationGap] = Field(description="Seq completeness of the stations involved.")
