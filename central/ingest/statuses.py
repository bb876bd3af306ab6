"""Taking in the stations' status messages: checked, admitted, applied, or dead-lettered.

The edge raises its alarms (camera down, outbox filling, events refused at a full
outbox) in its retained status message; here central takes each one in so that its
operators see them as alarms (:mod:`linetrace.central.derive.station_status`).

Why a plain subscription at QoS 0, and not the events' shared one:

- MQTT v5 sends no retained message to a shared subscription: a central that (re)starts
  after a station went degraded or offline would never hear of it until the station's
  next change. A plain subscription gets the retained status of every station at each
  (re)subscribe, so every replica starts from the current state.
- Every replica reads every status (a few a minute per station); applying one is
  idempotent: the station's row is locked while compared, a status no newer than the
  stored one changes nothing, and alarms are unique while open.
- QoS 0: the broker queues nothing for a stopped central (the session's queue stays for
  events), and no stale copies replay after a restart; the retained status, resent on
  each subscribe, is the current one, and the edge refreshes it every few seconds.

A status is checked like an event (the contract's model, finite figures, a topic that
names the station), from a station admitted like an event's (unknown or disabled: a dead
letter with the same reason; auto-registration alike), and a refused one is a dead
letter with its reason: no status can stop the ingest.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError
from sqlalchemy.engine import Connection, Engine

from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.contract.topics import (
    Channel,
    StationId,
    TopicError,
    parse_topic,
    subscription,
)
from linetrace.central.derive.station_status import apply_status
from linetrace.central.derive.stations import admit
from linetrace.central.ingest.write_batch import (
    BatchOptions,
    Inbound,
    StoreUnavailable,
    dead_letter,
    is_transient,
    raise_if_unreachable,
)
from linetrace.central.store import DeadLetter, insert_dead_letters
from linetrace.errors import ContractError

__all__ = [
    "STATUS_QOS",
    "STATUS_SUBSCRIPTION",
    "StatusResult",
    "accept_status",
    "is_status_topic",
    "write_statuses",
]

log = logging.getLogger(__name__)

STATUS_SUBSCRIPTION = subscription(Channel.STATUS)
STATUS_QOS = 0
# A status carries a few dozen figures in a few KiB; far more is not a status.
MAX_STATUS_BYTES = 64 * 1024
MAX_FIGURES = 256
MAX_FIGURE_NAME = 64
# A deadlock between two replicas resolves on the first retry, as for events.
_TRANSIENT_TRIES = 3
_STATUS_SUFFIX = f"/{Channel.STATUS}"


@dataclass(slots=True)
class StatusResult:
    """What became of the status messages of one batch."""

    applied: int = 0
    stale: int = 0  # late or repeated copies: nothing changed
    lost: int = 0  # events the stations newly reported lost
    dead_letters: list[DeadLetter] = field(default_factory=list)


def is_status_topic(topic_name: str) -> bool:
    """Whether a received message goes to :func:`write_statuses` (not to the events)."""
    return topic_name.endswith(_STATUS_SUFFIX)


def accept_status(topic_name: str, payload: bytes) -> tuple[StationId, StationStatus]:
    """The station and its status; :class:`ContractError` with the reason when refused."""
    try:
        station, channel = parse_topic(topic_name)
    except TopicError as exc:
        raise ContractError(f"topic: {exc}") from None
    if channel is not Channel.STATUS:
        raise ContractError(f"topic {topic_name!r} is not a status topic")
    if len(payload) > MAX_STATUS_BYTES:
        raise ContractError(f"status of {len(payload)} bytes exceeds {MAX_STATUS_BYTES}")
    try:
        status = StationStatus.model_validate_json(payload)
    except ValidationError as exc:
        problems = [
            f"{'.'.join(str(p) for p in error['loc']) or 'status'}: {error['msg']}"
            for error in exc.errors()
        ]
        raise ContractError("invalid status: " + "; ".join(problems[:5])) from None
    _check_figures(status.metrics)
    return station, status


def _check_figures(metrics: dict[str, float]) -> None:
    if len(metrics) > MAX_FIGURES:
        raise ContractError(f"status has {len(metrics)} figures, more than {MAX_FIGURES}")
    for name, value in metrics.items():
        if not name or len(name) > MAX_FIGURE_NAME or "\x00" in name:
            raise ContractError(f"figure name {name[:80]!r} is empty, too long or holds NUL")
        if not math.isfinite(value):
            raise ContractError(f"figure {name} is {value}, not a finite number")


def write_statuses(
    engine: Engine, messages: Sequence[Inbound], options: BatchOptions | None = None
) -> StatusResult:
    """Apply the valid statuses, dead-letter the rest; raise :class:`StoreUnavailable` if the
    database cannot be reached (nothing committed)."""
    options = options or BatchOptions()
    accepted: list[tuple[int, StationId, StationStatus]] = []
    refused: dict[int, str] = {}
    for index, message in enumerate(messages):
        try:
            accepted.append((index, *accept_status(message.topic, message.payload)))
        except ContractError as exc:
            refused[index] = exc.reason
        except Exception as exc:
            log.exception("checking a status from %r failed", message.topic)
            refused[index] = f"the message could not be checked: {type(exc).__name__}: {exc}"
    for attempt in range(1, _TRANSIENT_TRIES + 1):
        try:
            with engine.begin() as connection:
                return _write(connection, accepted, refused, messages, options)
        except Exception as exc:
            raise_if_unreachable(engine, exc)
            if not is_transient(exc):
                log.warning("statuses refused together (%s); taking them one by one", exc)
                return _write_one_by_one(engine, accepted, refused, messages, options)
            if attempt == _TRANSIENT_TRIES:
                raise StoreUnavailable(f"still refused: {exc}") from exc
    raise AssertionError("unreachable: the loop returns or raises")


def _write(
    conn: Connection,
    accepted: Sequence[tuple[int, StationId, StationStatus]],
    refused: dict[int, str],
    messages: Sequence[Inbound],
    options: BatchOptions,
) -> StatusResult:
    """Every status of the batch in the caller's transaction."""
    refused = dict(refused)
    not_admitted = admit(
        conn, {station for _, station, _ in accepted}, auto_register=options.auto_register
    )
    result = StatusResult()
    # In the order received, which is the order each station sent them in.
    for index, station, status in accepted:
        reason = not_admitted.get(station)
        if reason is not None:
            refused[index] = reason
            continue
        outcome = apply_status(conn, station, status, messages[index].received_at)
        result.applied += outcome.applied
        result.stale += not outcome.applied
        result.lost += outcome.lost
    result.dead_letters = [
        dead_letter(messages[i], reason) for i, reason in sorted(refused.items())
    ]
    if options.record_dead_letters:
        insert_dead_letters(conn, result.dead_letters)
    return result


def _write_one_by_one(
    engine: Engine,
    accepted: Sequence[tuple[int, StationId, StationStatus]],
    refused: dict[int, str],
    messages: Sequence[Inbound],
    options: BatchOptions,
) -> StatusResult:
    """Each status in its own transaction; one the database refuses is dead-lettered."""
    result = StatusResult()
    refused = dict(refused)
    alone = BatchOptions(auto_register=options.auto_register, record_dead_letters=False)
    for item in accepted:
        try:
            with engine.begin() as connection:
                part = _write(connection, [item], {}, messages, alone)
        except Exception as exc:
            raise_if_unreachable(engine, exc)
            if is_transient(exc):
                raise StoreUnavailable(f"refused while one by one: {exc}") from exc
            refused[item[0]] = f"the database refused the status: {_first_line(exc)}"
            continue
        result.applied += part.applied
        result.stale += part.stale
        result.lost += part.lost
        if part.dead_letters:  # not admitted
            refused[item[0]] = part.dead_letters[0].reason
    result.dead_letters = [
        dead_letter(messages[i], reason) for i, reason in sorted(refused.items())
    ]
    if options.record_dead_letters and result.dead_letters:
        with engine.begin() as connection:
            insert_dead_letters(connection, result.dead_letters)
    return result


def _first_line(exc: BaseException) -> str:
    original = getattr(exc, "orig", None) or exc
    lines = str(original).strip().splitlines()
    return f"{type(original).__name__}: {lines[0]}" if lines else type(original).__name__
