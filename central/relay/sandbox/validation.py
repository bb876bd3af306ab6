"""Checking what a sandbox receives: the envelope always, GS1's JSON Schema when given one.

The schema (GS1's ``EPCIS-JSON-Schema.json``, not shipped: see
:mod:`linetrace.central.relay.epcis.schema`) comes from ``--schema`` or
``$LINETRACE_EPCIS_SCHEMA``; without one the sandbox still runs but checks only the
envelope, and says so at start and in its stats.

Speed: the relay must push >= 5,000 events/s into one sandbox on a 2-core box that also
runs the ingest, so the sandbox spends well under a core on it. Python's jsonschema
checks about 1,000 events/s against GS1's schema; the compiled Rust validator
(``jsonschema-rs``, draft-07 with format checking) checks several hundred thousand. It
is the gate: a document it passes is accepted as is. A document it fails is explained
by the project's own :func:`~linetrace.central.relay.epcis.schema.document_problems`
(the same words and JSON paths as the relay's checks), and each problem is pinned to
its event by the event's index (``sequenceInEPCISDoc``). Without ``jsonschema-rs``
Python's validator is the gate (slower, same verdicts).
"""

from __future__ import annotations

import logging
import os
import re
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from linetrace.central.relay.epcis.schema import (
    EPCIS_SCHEMA_ENV,
    document_problems,
    load_schema,
    validator,
)
from linetrace.errors import NotFound

__all__ = ["EVENT_TYPES", "DocumentValidator", "Verdict", "events_of"]

log = logging.getLogger(__name__)

EVENT_TYPES = frozenset(
    {
        "ObjectEvent",
        "AggregationEvent",
        "TransactionEvent",
        "TransformationEvent",
        "AssociationEvent",
    }
)
DOCUMENT_TYPES = frozenset({"EPCISDocument", "EPCISQueryDocument"})
# The longest message kept from the Rust validator: an ``anyOf`` failure prints the
# whole event, which says nothing a person can act on past its start.
MAX_MESSAGE = 200
_EVENT_PATH = re.compile(
    r"^\$\.epcisBody\.(?:eventList|queryResults\.resultsBody\.eventList)\[(\d+)\](.*)$"
)


@dataclass
class Verdict:
    """Problems with the document as a whole (reject it all) and per event (by index)."""

    document: list[str] = field(default_factory=list)
    events: dict[int, list[str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.document and not self.events


def events_of(document: Any) -> list[Any] | None:
    """The event list of an EPCISDocument or EPCISQueryDocument, or None when there is none."""
    if not isinstance(document, dict):
        return None
    body = document.get("epcisBody")
    if not isinstance(body, dict):
        return None
    if document.get("type") == "EPCISQueryDocument":
        results = body.get("queryResults")
        body = results.get("resultsBody") if isinstance(results, dict) else None
        if not isinstance(body, dict):
            return None
    events = body.get("eventList")
    return events if isinstance(events, list) else None


def envelope_problems(document: Any) -> Verdict:
    """What a document breaks in the envelope every EPCIS 2.0 JSON document has."""
    verdict = Verdict()
    if not isinstance(document, dict):
        verdict.document.append("$: an EPCIS document is a JSON object")
        return verdict
    if document.get("type") not in DOCUMENT_TYPES:
        verdict.document.append(
            f"$.type: {document.get('type')!r} is not one of {sorted(DOCUMENT_TYPES)}"
        )
    if "@context" not in document:
        verdict.document.append("$: '@context' is a required property")
    if document.get("schemaVersion") != "2.0":
        verdict.document.append(f"$.schemaVersion: {document.get('schemaVersion')!r} is not '2.0'")
    if not isinstance(document.get("creationDate"), str):
        verdict.document.append("$: 'creationDate' is a required property")
    events = events_of(document)
    if events is None:
        verdict.document.append("$.epcisBody: no eventList")
        return verdict
    for index, event in enumerate(events):
        problems = _event_envelope(event)
        if problems:
            verdict.events[index] = problems
    return verdict


def _event_envelope(event: Any) -> list[str]:
    if not isinstance(event, dict):
        return ["an event is a JSON object"]
    problems = []
    if event.get("type") not in EVENT_TYPES:
        problems.append(f"type {event.get('type')!r} is not an EPCIS 2.0 event type")
    for key in ("eventTime", "eventTimeZoneOffset"):
        if not isinstance(event.get(key), str):
            problems.append(f"'{key}' is a required property")
    return problems


class DocumentValidator:
    """The checks one sandbox applies; ``source`` names the schema file (None: envelope only)."""

    def __init__(self, schema: dict[str, Any] | None = None, source: str | None = None) -> None:
        self.schema = schema
        self.source = source if schema is not None else None
        self.engine = "envelope only"
        self._fast: Any = None
        if schema is not None:
            try:
                import jsonschema_rs

                self._fast = jsonschema_rs.Draft7Validator(schema, validate_formats=True)
                self.engine = "jsonschema-rs"
            except ImportError:
                self.engine = "jsonschema"
            self._slow = validator(schema)

    @classmethod
    def load(cls, path: Path | None = None) -> DocumentValidator:
        """From ``path``, else ``$LINETRACE_EPCIS_SCHEMA``, else envelope-only (logged loudly)."""
        try:
            schema = load_schema(path)
        except NotFound as exc:
            if path is not None:
                raise
            log.warning(
                "NO SCHEMA: the sandbox checks only the EPCIS envelope, not GS1's JSON Schema "
                "(pass --schema or set %s): %s",
                EPCIS_SCHEMA_ENV,
                exc,
            )
            return cls()
        return cls(schema, str(path or os.environ.get(EPCIS_SCHEMA_ENV)))

    def check(self, document: Any) -> Verdict:
        """The envelope, then (with a schema) GS1's schema, problems pinned to events."""
        verdict = envelope_problems(document)
        if verdict.document or self.schema is None:
            return verdict
        if self._fast is not None:
            if self._fast.is_valid(document):
                return verdict
        elif self._slow.is_valid(document):
            return verdict
        per_event: defaultdict[int, list[str]] = defaultdict(list)
        for problem in document_problems(document, self.schema):
            match = _EVENT_PATH.match(problem)
            if match:
                per_event[int(match.group(1))].append(f"${match.group(2)}")
            elif not problem.startswith("... and"):
                verdict.document.append(problem)
        if self._fast is not None:  # the Python report stops at 20 problems; find the rest
            for error in self._fast.iter_errors(document):
                where = list(error.instance_path)
                if len(where) >= 3 and where[:2] == ["epcisBody", "eventList"]:
                    index = int(where[2])
                    if index not in per_event and index not in verdict.events:
                        per_event[index].append(str(error.message)[:MAX_MESSAGE])
        for index, problems in per_event.items():
            verdict.events.setdefault(index, []).extend(problems)
        if verdict.ok:  # the gate failed it, yet nothing was named: never accept silently
            verdict.document.append("the document does not validate against GS1's EPCIS schema")
        return verdict
