"""GS1's EPCIS 2.0 JSON Schema: where to find it and what a document breaks in it.

GS1's single-file schema (``EPCIS-JSON-Schema.json``, draft-07) is *not* copied into
this repository: its licence is a disclaimer, not a grant. It is read from a path the
caller names, else from the ``LINETRACE_EPCIS_SCHEMA`` environment variable; the
reference copy lives in ``../shared/epcis/schema/`` next to the repository.

Validation uses jsonschema's draft-07 validator *with* its format checker: the schema
only says extension keys and identifiers are ``format: uri``, and without a format
checker (the ``jsonschema[format]`` extra brings ``rfc3987``) that is silently not
enforced, so a document with an undeclared ``foo:bar`` key or a bare word as an id would
pass here and be refused by a real repository.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path
from typing import Any

from jsonschema import Draft7Validator, FormatChecker  # type: ignore[import-untyped]
from jsonschema.exceptions import (  # type: ignore[import-untyped]
    ValidationError,
    best_match,
)

from linetrace.errors import NotFound

__all__ = ["EPCIS_SCHEMA_ENV", "EPCIS_SCHEMA_FILE", "document_problems", "load_schema", "validator"]

EPCIS_SCHEMA_ENV = "LINETRACE_EPCIS_SCHEMA"
EPCIS_SCHEMA_FILE = "EPCIS-JSON-Schema.json"

# Problems reported per document at most: a document that breaks the schema usually does
# so in every event the same way; the first few paths are enough to act on, and a
# 10,000-event document must not turn into a 10,000-line message.
MAX_PROBLEMS = 20

_validators: dict[int, tuple[dict[str, Any], Draft7Validator]] = {}
_validators_lock = threading.Lock()


def load_schema(path: Path | None = None) -> dict[str, Any]:
    """GS1's EPCIS 2.0 JSON Schema, from ``path`` or ``$LINETRACE_EPCIS_SCHEMA``.

    Raises :class:`NotFound` (saying how to point at the file) when neither names a
    readable file.
    """
    if path is None:
        named = os.environ.get(EPCIS_SCHEMA_ENV, "")
        if not named:
            raise NotFound(
                f"GS1's EPCIS 2.0 JSON Schema is not configured: set {EPCIS_SCHEMA_ENV} to the path "
                f"of {EPCIS_SCHEMA_FILE} (from github.com/gs1/EPCIS, JSON-Schema/; a copy is in "
                "../shared/epcis/schema/ beside the repository). It is not shipped with linetrace."
            )
        path = Path(named)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise NotFound(
            f"cannot read GS1's EPCIS 2.0 JSON Schema at {path} ({exc.strerror or exc}); "
            f"point {EPCIS_SCHEMA_ENV} at {EPCIS_SCHEMA_FILE}"
        ) from exc
    schema: dict[str, Any] = json.loads(text)
    return schema


def validator(schema: dict[str, Any]) -> Draft7Validator:
    """A draft-07 validator with format checking for ``schema``, built once per schema object.

    Building one resolves every ``$ref`` of the 2,000-line schema; callers that validate
    each document they receive (the sandbox) would pay that per request otherwise.
    """
    key = id(schema)
    with _validators_lock:
        cached = _validators.get(key)
        if cached is not None and cached[0] is schema:
            return cached[1]
        built = Draft7Validator(schema, format_checker=FormatChecker())
        _validators[key] = (schema, built)
        return built


def _path(error: ValidationError) -> str:
    parts = ["$"]
    for step in error.absolute_path:
        parts.append(f"[{step}]" if isinstance(step, int) else f".{step}")
    return "".join(parts)


def _specific(error: ValidationError) -> ValidationError:
    """The most relevant cause of an ``anyOf``/``oneOf`` failure, which says little by itself.

    Every branch of the schema's event ``anyOf`` fails for a bad ObjectEvent (``action``
    is not ``DELETE`` either ...); jsonschema's ``best_match`` picks the deepest, most
    specific one, which is the one a person can act on.
    """
    while error.context:
        error = best_match(error.context) or error
        if not error.context:
            break
    return error


def document_problems(document: dict[str, Any], schema: dict[str, Any]) -> list[str]:
    """Each way ``document`` breaks ``schema``, as ``"$.json.path: message"``; empty when valid.

    Sorted by path so a report is stable; at most :data:`MAX_PROBLEMS` entries, the last
    one saying how many more there were.
    """
    found = sorted(
        validator(schema).iter_errors(document), key=lambda e: list(map(str, e.absolute_path))
    )
    problems: list[str] = []
    seen: set[str] = set()
    for error in found:
        leaf = _specific(error)
        line = f"{_path(leaf)}: {leaf.message}"
        if line not in seen:
            seen.add(line)
            problems.append(line)
    if len(problems) > MAX_PROBLEMS:
        extra = len(problems) - MAX_PROBLEMS
        problems = [*problems[:MAX_PROBLEMS], f"... and {extra} more"]
    return problems
