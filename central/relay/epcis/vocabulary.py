"""The words our EPCIS events use: the JSON-LD context, our namespace, CBV terms per role.

Our own fields (station id, seq, central's event id, symbology, failed checks) appear
only under one declared namespace, ``lt:`` = :data:`LINETRACE_NS`, so a repository that
does not know them can still validate and store the events (GS1's schema requires an
extension key to be a URI, which a declared CURIE is).
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "ADDED_ROLES",
    "EPCIS_CONTEXT",
    "EPCIS_CONTEXT_URL",
    "LINETRACE_NS",
    "LINETRACE_PREFIX",
    "PRODORDER_BASE",
    "ROLE_STEPS",
    "STATION_BASE",
    "step_for_role",
]

EPCIS_CONTEXT_URL = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
LINETRACE_NS = "https://linetrace.dev/epcis/"
LINETRACE_PREFIX = "lt"
# The one root @context of every document we write: the standard's, then our namespace.
EPCIS_CONTEXT: list[Any] = [EPCIS_CONTEXT_URL, {LINETRACE_PREFIX: LINETRACE_NS}]
# A production batch as a business transaction of CBV type ``prodorder``: central's batch
# id is unique and stable, the ERP order id (if any) is not always set; an https URI in
# our namespace is schema-valid and resolvable in principle.
PRODORDER_BASE = LINETRACE_NS + "prodorder/"
# The readPoint of a station with no GLN registered: a URI of ours naming the station, so
# the event stays valid; ``portal check`` reports the missing GLN.
STATION_BASE = LINETRACE_NS + "station/"

# Station role (a site's own word, see central.derive.stations) -> (bizStep, disposition).
# Several spellings per step: sites name roles as they speak.
ROLE_STEPS: dict[str, tuple[str, str]] = {
    **dict.fromkeys(("labelling", "labeling", "label", "commissioning", "print"), ("commissioning", "active")),
    **dict.fromkeys(("packing", "pack", "palletise", "palletize", "palletising", "case"), ("packing", "in_progress")),
    **dict.fromkeys(("shipping", "ship", "dispatch", "departing", "loading"), ("shipping", "in_transit")),
    **dict.fromkeys(("receiving", "receive"), ("receiving", "in_progress")),
    **dict.fromkeys(("inspecting", "inspect", "inspection", "qc"), ("inspecting", "in_progress")),
    **dict.fromkeys(("storing", "store", "warehouse"), ("storing", "sellable_not_accessible")),
}  # fmt: skip
# Roles whose reads bring codes into being (EPCIS ObjectEvent ADD, with ILMD).
ADDED_ROLES = frozenset(role for role, (step, _) in ROLE_STEPS.items() if step == "commissioning")


def step_for_role(role: str | None) -> tuple[str, str] | tuple[None, None]:
    """(bizStep, disposition) for a station role; (None, None) when the role says nothing."""
    if role is None:
        return None, None
    return ROLE_STEPS.get(role.lower(), (None, None))
