"""EPCIS 2.0 documents: the envelope, its bytes, size-bounded splitting, corrections.

A document has ONE root ``@context`` (the standard's context plus our ``lt:``
namespace; events carry none of their own), ``schemaVersion`` "2.0" and a
``creationDate``. Targets bound a capture by events *and* bytes (an OpenEPCIS default of
100 events / 100,000 bytes, FasTnT's 20,000-byte bodies), so :func:`split` packs events
in order into documents whose *encoded* size, envelope included, stays within the bound.

Encoding is compact UTF-8 JSON by ``pydantic_core.to_json`` (Rust, already a dependency
through pydantic; about three times ``json.dumps`` on our events). Non-ASCII text (a
Vietnamese product name in a failed-check detail) is written as UTF-8, not escaped.

Corrections: :func:`error_declaration` writes the original event again with an
``errorDeclaration`` (CBV reason ``incorrect_data`` by default, our words under
``lt:reason``). The event hash leaves ``errorDeclaration`` out, so the declaration keeps
the original ``eventID`` and a repository replaces the event it holds.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from datetime import datetime, timedelta, timezone
from typing import Any

from pydantic_core import to_json

from linetrace.central.relay.epcis.mapping import MappedEvent
from linetrace.central.relay.epcis.vocabulary import EPCIS_CONTEXT

__all__ = [
    "EPCIS_CONTEXT",
    "SCHEMA_VERSION",
    "document",
    "encode",
    "envelope_size",
    "error_declaration",
    "iso_time",
    "split",
]

SCHEMA_VERSION = "2.0"
ERROR_REASONS = frozenset({"did_not_occur", "incorrect_data"})


def iso_time(moment: datetime) -> str:
    """An aware time as RFC 3339 with milliseconds (UTC ``Z`` when it is UTC)."""
    if moment.tzinfo is None:
        raise ValueError(f"naive datetime {moment!r}: documents carry aware times only")
    text = moment.isoformat(timespec="milliseconds")
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def document(events: Sequence[dict[str, Any]], *, created: datetime) -> dict[str, Any]:
    """An EPCISDocument holding ``events`` (EPCIS event bodies) under one root @context."""
    return {
        "@context": EPCIS_CONTEXT,
        "type": "EPCISDocument",
        "schemaVersion": SCHEMA_VERSION,
        "creationDate": iso_time(created),
        "epcisBody": {"eventList": list(events)},
    }


def encode(value: Any) -> bytes:
    """Compact UTF-8 JSON of a document (or of one event)."""
    return to_json(value)


# The longest creationDate form (with an offset, not "Z"): a bound that holds for it holds
# whatever time the document is finally stamped with.
_LONGEST_CREATED = datetime(2000, 1, 1, tzinfo=timezone(timedelta(hours=-12)))


def envelope_size(created: datetime | None = None) -> int:
    """Bytes of an empty document: what every document costs besides its events.

    Without ``created``, the size for the longest creationDate form.
    """
    return len(encode(document([], created=created or _LONGEST_CREATED)))


def split(
    events: Sequence[MappedEvent], max_events: int, max_bytes: int
) -> list[list[MappedEvent]]:
    """``events`` in order, cut into documents of at most ``max_events`` events and
    ``max_bytes`` encoded bytes each (envelope and separating commas included).

    An event too large for any document on its own gets a document of its own: the
    target will refuse that one (413), and only that one.
    """
    if max_events < 1:
        raise ValueError("max_events must be at least 1")
    envelope = envelope_size()
    groups: list[list[MappedEvent]] = []
    current: list[MappedEvent] = []
    size = envelope
    for event in events:
        cost = len(encode(event.body)) + (1 if current else 0)
        if current and (len(current) >= max_events or size + cost > max_bytes):
            groups.append(current)
            current, size = [], envelope
            cost -= 1  # first of its document: no comma before it
        current.append(event)
        size += cost
    if current:
        groups.append(current)
    return groups


def error_declaration(
    original: dict[str, Any],
    reason: str,
    declared_at: datetime,
    *,
    cbv_reason: str = "incorrect_data",
    corrective_event_ids: Sequence[str] = (),
) -> dict[str, Any]:
    """``original`` (an EPCIS event body we sent) declared in error, keeping its eventID.

    ``reason`` is our words (kept under ``lt:reason``); ``cbv_reason`` the CBV error
    reason (``incorrect_data`` or ``did_not_occur``).
    """
    if cbv_reason not in ERROR_REASONS:
        raise ValueError(
            f"CBV error reason must be one of {sorted(ERROR_REASONS)}, not {cbv_reason!r}"
        )
    declared = copy.deepcopy(original)
    declaration: dict[str, Any] = {"declarationTime": iso_time(declared_at), "reason": cbv_reason}
    if corrective_event_ids:
        declaration["correctiveEventIDs"] = list(corrective_event_ids)
    declaration["lt:reason"] = reason
    declared["errorDeclaration"] = declaration
    return declared
