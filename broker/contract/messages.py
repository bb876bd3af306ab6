"""The messages on the wire, as pydantic models, and the versioning rule.

The scan event is the unit of traceability: made once at the edge, sent until central
confirms it, stored once. Its ``schema_version`` is ``MAJOR.MINOR``: a new minor version
only adds optional fields, which every reader of the same major version accepts (the
models keep unknown fields); a new major version is refused with a reason, so a reader
never guesses at data it does not understand.
"""

from __future__ import annotations

import json
from datetime import date, datetime
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any, Literal
from uuid import UUID

from pydantic import (
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from linetrace.broker.contract.strict_json import (
    MAX_DOCUMENT_DEPTH,
    MAX_EXTRA_DEPTH,
    check_extras,
    check_strings,
    finite,
    nesting_depth,
    refuse_constant,
)
from linetrace.broker.contract.topics import StationId, TopicError
from linetrace.errors import ContractError

SCHEMA_VERSION = "1.1"  # 1.1 added children (pack) and snapshot (noread)
SUPPORTED_MAJOR = 1
# A read is well under 4 KiB and a no-read with its snapshot under MAX_SNAPSHOT_CHARS plus
# that. Anything larger is a fault or an attack, and is refused before it is parsed.
MAX_EVENT_BYTES = 64 * 1024
# A no-read snapshot is a JPEG crop of the located symbol, base64-encoded: 48 KiB of text
# is about 36 KiB of JPEG, plenty for a label crop and small enough to keep events light.
MAX_SNAPSHOT_CHARS = 48 * 1024
SCHEMA_PATH = Path(__file__).with_name("schema") / "scan-event.v1.json"

_IdPart = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")]
_AI = Annotated[str, StringConstraints(pattern=r"^[0-9]{2,4}$")]


class EventKind(StrEnum):
    """What the station saw."""

    READ = "read"  # one item passage with a decoded code
    NOREAD = "noread"  # a symbol located during a passage but never decoded
    PACK = "pack"  # a parent label (case/pallet SSCC) seen together with its children


class CheckResult(BaseModel):
    """The outcome of one check on a read (check digit, batch match, expiry, ...)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    passed: bool = Field(strict=True, description="True when the read passed this check.")
    detail: str | None = Field(
        default=None, description="Why it failed, in words an operator can act on."
    )


class ChildRead(BaseModel):
    """One code seen inside a parent's label area at a packing station (a ``pack`` event)."""

    model_config = ConfigDict(frozen=True, extra="allow")

    symbology: str | None = Field(default=None, description="Symbology name of the child.")
    symbology_id: str | None = Field(
        default=None, description="ISO/IEC 15424 symbology identifier of the child."
    )
    text: str = Field(max_length=4096, description="The child's raw decoded data.")
    gs1: dict[_AI, str] | None = Field(
        default=None, description="The child's GS1 AI -> value, or null when not GS1."
    )


class BatchAnnouncement(BaseModel):
    """Retained on ``.../batch`` by central: the production batch a line is packing now.

    An empty retained payload clears it (no batch open: batch checks are skipped).
    """

    model_config = ConfigDict(frozen=True, extra="allow")

    batch_id: str = Field(min_length=1, max_length=64, description="Central's batch id.")
    gtin: Annotated[str, StringConstraints(pattern=r"^[0-9]{14}$")] = Field(
        description="GTIN-14 of the product being packed."
    )
    lot: str = Field(min_length=1, max_length=20, description="Lot / batch number (AI 10).")
    expiry: date | None = Field(default=None, description="Expiry date (AI 17), if any.")
    production_date: date | None = Field(default=None, description="Production date (AI 11).")
    target_quantity: int | None = Field(default=None, ge=1, description="Items planned.")
    production_order: str | None = Field(default=None, description="ERP production order id.")
    started_at: AwareDatetime = Field(description="When the operator started the batch.")

    def to_payload(self) -> bytes:
        return self.model_dump_json().encode()


class _Message(BaseModel):
    model_config = ConfigDict(frozen=True, extra="allow", ser_json_timedelta="iso8601")

    def to_payload(self) -> bytes:
        """The UTF-8 JSON bytes sent over MQTT."""
        return self.model_dump_json().encode()


class ScanEvent(_Message):
    """One scan event, as published on ``.../events``."""

    model_config = ConfigDict(
        frozen=True,
        extra="allow",
        json_schema_extra={"$id": "https://linetrace.dev/schema/scan-event.v1.json"},
    )

    schema_version: Annotated[str, StringConstraints(pattern=r"^[0-9]+\.[0-9]+$")] = Field(
        default=SCHEMA_VERSION, description="MAJOR.MINOR; readers refuse an unknown major."
    )
    event_id: UUID = Field(
        description="UUIDv7 made once at the edge; the same on every resend (idempotency key)."
    )
    site: _IdPart = Field(description="Site (factory) id.")
    line: _IdPart = Field(description="Production line id within the site.")
    station: _IdPart = Field(description="Station id within the line.")
    # Strict (here and on frames, observed_at, checks' passed): the JSON Schema says
    # integer, date-time string and boolean, so "5", 5.0, true or a Unix time are refused.
    seq: int = Field(
        strict=True, ge=1, description="Per-station sequence, gapless and kept across restarts."
    )
    kind: EventKind = Field(description="read, noread or pack.")
    observed_at: AwareDatetime = Field(
        strict=True,
        description="When the item was first seen, RFC 3339 with the station's UTC offset.",
    )
    symbology: str | None = Field(
        default=None,
        description="Symbology name as the decoder reports it (e.g. DataMatrix, QRCode, "
        "Code128, EAN13); null for a no-read of unknown type.",
    )
    symbology_id: str | None = Field(
        default=None,
        pattern=r"^\][A-Za-z][0-9A-Za-z]$",
        description="ISO/IEC 15424 symbology identifier, e.g. ]d2 for GS1 DataMatrix.",
    )
    text: str | None = Field(
        default=None,
        max_length=4096,
        description="The raw decoded data (GS1 element strings keep their GS separators); "
        "null for a no-read.",
    )
    gs1: dict[_AI, str] | None = Field(
        default=None,
        description="GS1 Application Identifier -> value, or null when the code is not GS1.",
    )
    checks: dict[str, CheckResult] = Field(
        default_factory=dict, description="Named checks run at the edge and their outcomes."
    )
    frames: int = Field(
        strict=True, ge=1, description="How many frames saw this item during its passage."
    )
    children: list[ChildRead] | None = Field(
        default=None,
        max_length=1000,
        description="pack only: the child codes seen with this parent label (since 1.1).",
    )
    snapshot: str | None = Field(
        default=None,
        max_length=MAX_SNAPSHOT_CHARS,
        description="noread only: base64 JPEG crop of the undecoded symbol (since 1.1).",
    )

    @field_validator("event_id")
    @classmethod
    def _uuid7(cls, value: UUID) -> UUID:
        if value.version != 7:
            raise ValueError("event_id must be a UUIDv7")
        return value

    @model_validator(mode="after")
    def _kind_fields(self) -> ScanEvent:
        if self.kind is EventKind.NOREAD:
            if self.text is not None:
                raise ValueError("a noread event carries no text")
        elif not self.text:
            raise ValueError(f"a {self.kind} event needs the decoded text")
        if self.children is not None and self.kind is not EventKind.PACK:
            raise ValueError("only a pack event carries children")
        if self.snapshot is not None and self.kind is not EventKind.NOREAD:
            raise ValueError("only a noread event carries a snapshot")
        return self

    @property
    def station_id(self) -> StationId:
        return StationId(self.site, self.line, self.station)

    @property
    def major_version(self) -> int:
        return int(self.schema_version.split(".")[0])


class StationStatus(_Message):
    """Retained on ``.../status``; the broker publishes the ``offline`` last will.

    ``degraded``: the station is connected but one of its alarms is raised (a metric
    named ``*_alarm`` is non-zero: the camera is down, the outbox is filling up); see
    :func:`live_state`.
    """

    state: Literal["online", "degraded", "offline"]
    at: AwareDatetime
    metrics: dict[str, float] = Field(default_factory=dict)


ALARM_SUFFIX = "_alarm"


def live_state(metrics: dict[str, float]) -> Literal["online", "degraded"]:
    """The state of a connected station with these figures: degraded while an alarm is up."""
    raised = any(name.endswith(ALARM_SUFFIX) and value for name, value in metrics.items())
    return "degraded" if raised else "online"


class AckWatermark(_Message):
    """Retained on ``.../ack``: every ``seq`` up to this one is committed at central."""

    seq: int = Field(ge=0)
    at: datetime


def parse_event(payload: bytes) -> ScanEvent:
    """Turn wire bytes into a :class:`ScanEvent`, or raise :class:`ContractError` with why.

    Only what can be served again is accepted: strict JSON (no NaN or Infinity, no lone
    surrogates, no number too large for a double) and unknown fields within
    :data:`MAX_EXTRA_DEPTH` and :data:`MAX_EXTRA_BYTES`. Nothing else escapes: any
    payload either parses or raises :class:`ContractError`.
    """
    if len(payload) > MAX_EVENT_BYTES:
        raise ContractError(f"payload of {len(payload)} bytes exceeds {MAX_EVENT_BYTES}")
    event = _parse_valid_event(payload)
    if event is None:
        event = _parse_with_reasons(payload)
    check_extras(event)
    return event


def _parse_valid_event(payload: bytes) -> ScanEvent | None:
    """The event, parsed by pydantic's own JSON reader; None when any check fails.

    Valid events (nearly all of them) take this path, about twice as fast as ``json.loads``
    plus ``model_validate``. Anything it does not accept goes through
    :func:`_parse_with_reasons`, which decides and words the refusal, so the reasons stay
    the same; it also refuses what this reader might let through (a missing
    ``schema_version``, which the model would default, or an unsupported major).
    """
    try:
        event = ScanEvent.model_validate_json(payload)
    except (ValidationError, TopicError):
        return None
    if "schema_version" not in event.model_fields_set or event.major_version != SUPPORTED_MAJOR:
        return None
    return event


def _parse_with_reasons(payload: bytes) -> ScanEvent:
    """Parse step by step, so that a refusal says which step failed and why.

    The event itself is still made by pydantic's JSON reader (which refuses lone
    surrogates, and validates the strict fields as JSON types); ``json.loads`` only finds
    the reasons.
    """
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        raise ContractError("payload is not UTF-8") from None
    depth = nesting_depth(text)
    if depth > MAX_DOCUMENT_DEPTH:
        raise ContractError(
            f"payload nests deeper than {MAX_DOCUMENT_DEPTH} levels "
            f"(unknown fields may nest {MAX_EXTRA_DEPTH})"
        )
    try:
        document: Any = json.loads(text, parse_constant=refuse_constant, parse_float=finite)
    except json.JSONDecodeError as exc:
        raise ContractError(f"payload is not JSON: {exc.msg} at position {exc.pos}") from None
    except (ValueError, RecursionError) as exc:  # refuse_constant, finite, int digits
        raise ContractError(f"payload is not strict JSON: {exc}") from None
    if not isinstance(document, dict):
        raise ContractError("payload is not a JSON object")
    check_strings(document)
    version = document.get("schema_version")
    if not isinstance(version, str) or not version.split(".")[0].isdigit():
        raise ContractError(f"schema_version {version!r} is missing or not MAJOR.MINOR")
    if int(version.split(".")[0]) != SUPPORTED_MAJOR:
        raise ContractError(
            f"schema_version {version} has an unsupported major version "
            f"(this reader understands {SUPPORTED_MAJOR}.x)"
        )
    try:
        return ScanEvent.model_validate_json(payload)
    except ValidationError as exc:
        raise ContractError(_describe(exc)) from None
    except TopicError as exc:
        raise ContractError(str(exc)) from None


def _describe(exc: ValidationError) -> str:
    problems = [
        f"{'.'.join(str(p) for p in err['loc']) or 'event'}: {err['msg']}" for err in exc.errors()
    ]
    return "invalid event: " + "; ".join(problems[:5])


def json_schema() -> dict[str, Any]:
    """The JSON Schema of the scan event, as committed in ``schema/scan-event.v1.json``."""
    return ScanEvent.model_json_schema(mode="validation")


def write_schema(path: Path = SCHEMA_PATH) -> Path:
    """Regenerate the committed schema file (``linetrace broker schema``)."""
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n")
    return path
