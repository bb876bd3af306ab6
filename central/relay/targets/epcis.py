"""The ``epcis`` adapter: GS1 EPCIS 2.0's standard capture interface (``POST /capture``).

What real repositories do differs (see ../shared/reference/relay-targets.md), so this
adapter assumes little and checks everything:

- limits come from ``OPTIONS /capture`` (``GS1-EPCIS-Capture-Limit``,
  ``GS1-EPCIS-Capture-File-Size-Limit`` or FasTnT's ``GS1-EPCIS-Capture-File-SizeLimit``),
  100 events and 20,000 bytes when none is given; a 413 (or Oliot's 406) halves the
  document and lowers the limits for the next ones;
- ``201`` (synchronous capture) and ``202`` + ``Location`` (a capture job, polled until
  ``running`` is false) both count; a finished job that failed under ``rollback``
  stored nothing, so its errors are mapped back to single events by
  ``sequenceInEPCISDoc`` (1-based) or ``eventID`` (or found by halving when neither is
  given), those are set aside as
  rejected with the repository's reason and the rest is sent again;
- a 409 (the eventID exists) means the repository has the event: accepted;
- 429 and 503 honour ``Retry-After``; every other failure is transient and retried
  by the worker, never dropped.

Documents go out as ``application/ld+json`` with one root ``@context`` and
``GS1-Capture-Error-Behaviour: rollback``, authenticated per target with HTTP Basic or a
bearer token. For events whose answer was lost, :meth:`EpcisTarget.already_captured`
asks the query interface (``GET /events/{eventID}``) which the repository holds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any
from urllib.parse import quote
from uuid import UUID

import httpx

from linetrace.central.relay.epcis.documents import document, encode
from linetrace.central.relay.settings import TargetSettings
from linetrace.central.relay.targets.base import Outcome, Outgoing

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_EVENTS", "EpcisTarget", "retry_after_s"]

log = logging.getLogger(__name__)

# The defaults when OPTIONS /capture advertises nothing: FasTnT refuses bodies
# over 20,000 bytes, OpenEPCIS takes 100 events; the smaller of each fits both.
DEFAULT_MAX_EVENTS = 100
DEFAULT_MAX_BYTES = 20_000
# The smallest byte limit halving may reach: one event's document is a few hundred bytes.
MIN_MAX_BYTES = 1024
# Limits are read again this often: a repository reconfigured (or one that was down at
# start) is noticed within minutes.
LIMITS_TTL_S = 600.0
# Polling a capture job: a local repository finishes 100 events in tens of ms, so start
# at 20 ms; doubling to half a second keeps a slow one from being polled hard.
JOB_POLL_FIRST_S = 0.02
JOB_POLL_MAX_S = 0.5
# Connecting takes a round trip; five seconds tells a dead host from a slow one.
CONNECT_TIMEOUT_S = 5.0
_LIMIT_HEADERS = ("GS1-EPCIS-Capture-Limit",)
_SIZE_HEADERS = ("GS1-EPCIS-Capture-File-Size-Limit", "GS1-EPCIS-Capture-File-SizeLimit")
_HEADERS = {
    "Content-Type": "application/ld+json",
    "Accept": "application/json, application/problem+json",
    "GS1-Capture-Error-Behaviour": "rollback",
    "GS1-EPCIS-Version": "2.0.0",
}
_EXISTS = ("ResourceAlreadyExists", "AlreadyExists", "already exists")


class EpcisTarget:
    """One EPCIS 2.0 repository's capture interface."""

    def __init__(
        self,
        settings: TargetSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.name = settings.name
        self._settings = settings
        self._clock = clock
        self._lock = threading.Lock()
        self._advertised: tuple[int, int] | None = None
        self._limits_read_at = -LIMITS_TTL_S
        self._lowered: tuple[int, int] | None = None
        self._last_status: int | None = None
        self._last_error: str | None = None
        self._client = httpx.Client(
            base_url=settings.url,
            auth=_auth(settings),
            timeout=httpx.Timeout(
                settings.timeout_s, connect=min(CONNECT_TIMEOUT_S, settings.timeout_s)
            ),
            limits=httpx.Limits(max_connections=settings.concurrency + 1),
            transport=transport,
        )

    def close(self) -> None:
        self._client.close()

    # -- the Target interface ---------------------------------------------------------------

    def limits(self) -> tuple[int, int]:
        """The advertised limits (read again every ``LIMITS_TTL_S``), capped by settings."""
        now = self._clock()
        if now - self._limits_read_at >= LIMITS_TTL_S:
            self._read_limits(now)
        events, size = self._advertised or (DEFAULT_MAX_EVENTS, DEFAULT_MAX_BYTES)
        with self._lock:
            if self._lowered is not None:
                events, size = min(events, self._lowered[0]), min(size, self._lowered[1])
        if self._settings.max_events is not None:
            events = min(events, self._settings.max_events)
        if self._settings.max_bytes is not None:
            size = min(size, self._settings.max_bytes)
        return events, size

    def deliver(self, events: Sequence[Outgoing]) -> Outcome:
        if not events:
            return Outcome()
        return self._send(list(events))

    def health(self) -> dict[str, object]:
        events, size = self.limits()
        return {
            "kind": "epcis",
            "url": self._settings.url,
            "max_events": events,
            "max_bytes": size,
            "advertised": list(self._advertised) if self._advertised else None,
            "last_status": self._last_status,
            "last_error": self._last_error,
        }

    def already_captured(self, events: Sequence[Outgoing]) -> set[UUID]:
        """Which events the repository holds (``GET /events/{eventID}``: 200 or 404).

        Raises :class:`httpx.HTTPError` when it cannot tell; the worker then retries later.
        """
        held = set()
        for event in events:
            response = self._client.get(f"/events/{quote(event.epcis_event_id, safe='')}")
            if response.status_code == httpx.codes.OK:
                held.add(event.source_event_id)
            elif response.status_code != httpx.codes.NOT_FOUND:
                response.raise_for_status()
                raise httpx.HTTPStatusError(
                    f"GET /events answered {response.status_code}",
                    request=response.request,
                    response=response,
                )
        return held

    # -- sending ----------------------------------------------------------------------------

    def _send(self, events: list[Outgoing]) -> Outcome:
        body = encode(document([event.body for event in events], created=datetime.now(UTC)))
        try:
            response = self._client.post("/capture", content=body, headers=_HEADERS)
        except httpx.HTTPError as exc:
            error = f"no answer from {self.name}: {_describe(exc)}"
            return self._failed(events, error, in_doubt=not isinstance(exc, httpx.ConnectError))
        status = response.status_code
        self._last_status = status
        if status == httpx.codes.CREATED:
            return self._succeeded(events)
        if status == httpx.codes.ACCEPTED:
            location = response.headers.get("Location")
            if not location:
                return self._succeeded(events)  # accepted for capture; nothing to poll
            return self._job_outcome(events, location)
        if status in (httpx.codes.REQUEST_ENTITY_TOO_LARGE, httpx.codes.NOT_ACCEPTABLE):
            return self._too_large(events, len(body), status)
        if status == httpx.codes.CONFLICT and len(events) == 1:
            return self._succeeded(events)  # the repository already holds it
        if status in (httpx.codes.CONFLICT, httpx.codes.BAD_REQUEST, 422):
            return self._refused(events, _problems(response), _reason(response))
        wait = retry_after_s(response.headers.get("Retry-After"))
        return self._failed(events, f"{self.name} answered {status}: {_reason(response)}", wait)

    def _succeeded(self, events: Sequence[Outgoing]) -> Outcome:
        self._last_error = None
        return Outcome(accepted=[event.source_event_id for event in events])

    def _failed(
        self,
        events: Sequence[Outgoing],
        error: str,
        wait: float | None = None,
        *,
        in_doubt: bool = False,
    ) -> Outcome:
        self._last_error = error
        log.info("%s: %s events to retry: %s", self.name, len(events), error)
        return Outcome.all_retry(events, error, wait, in_doubt=in_doubt)

    def _too_large(self, events: list[Outgoing], size: int, status: int) -> Outcome:
        """Halve the document (and the limits for the next ones) and send the halves."""
        with self._lock:
            events_now, bytes_now = self._lowered or (len(events), size)
            self._lowered = (
                max(1, min(events_now, len(events) // 2)),
                max(MIN_MAX_BYTES, min(bytes_now, size // 2)),
            )
        if len(events) == 1:
            reason = f"{self.name} refuses a document of this one event ({size} bytes): {status}"
            return Outcome(rejected={events[0].source_event_id: reason})
        log.info("%s answered %s to %s events; halving", self.name, status, len(events))
        return self._halves(events)

    def _halves(self, events: list[Outgoing]) -> Outcome:
        middle = len(events) // 2
        outcome = self._send(events[:middle])
        outcome.merge(self._send(events[middle:]))
        return outcome

    def _refused(
        self, events: list[Outgoing], problems: list[dict[str, Any]], reason: str
    ) -> Outcome:
        """The document failed as a whole (rollback): set aside the events named, resend."""
        named = _named(events, problems)
        if not named:
            if len(events) == 1:
                return Outcome(rejected={events[0].source_event_id: reason})
            return self._halves(events)  # find the culprits by halving
        outcome = Outcome()
        rest = []
        for index, event in enumerate(events):
            problem = named.get(index)
            if problem is None:
                rest.append(event)
            elif _already_exists(problem):
                outcome.accepted.append(event.source_event_id)
            else:
                outcome.rejected[event.source_event_id] = _problem_text(problem)
        if rest:
            outcome.merge(self._send(rest))
        return outcome

    def _job_outcome(self, events: list[Outgoing], location: str) -> Outcome:
        job = self._poll(location)
        if isinstance(job, str):
            return self._failed(events, job, in_doubt=True)  # the job may still store them
        if job.get("success") is not False:
            return self._succeeded(events)
        problems = [p for p in job.get("errors") or [] if isinstance(p, dict)]
        first = _problem_text(problems[0]) if problems else "the capture job failed"
        return self._refused(events, problems, first)

    def _poll(self, location: str) -> dict[str, Any] | str:
        """The finished job, or why it could not be had (the events are then retried)."""
        deadline = self._clock() + self._settings.timeout_s
        pause = JOB_POLL_FIRST_S
        while True:
            try:
                response = self._client.get(location)
            except httpx.HTTPError as exc:
                return f"capture job {location} unreadable: {_describe(exc)}"
            if response.status_code != httpx.codes.OK:
                return f"capture job {location} answered {response.status_code}"
            try:
                job = response.json()
            except ValueError:
                return f"capture job {location} is not JSON"
            if isinstance(job, dict) and not job.get("running", False):
                return job
            if self._clock() + pause > deadline:
                return f"capture job {location} still running after {self._settings.timeout_s} s"
            time.sleep(pause)
            pause = min(pause * 2, JOB_POLL_MAX_S)

    def _read_limits(self, now: float) -> None:
        try:
            response = self._client.options("/capture")
        except httpx.HTTPError as exc:
            log.info("%s: OPTIONS /capture failed (%s); default limits", self.name, _describe(exc))
            return  # not cached: asked again next time
        self._limits_read_at = now
        headers = response.headers
        events = _header_int(headers, _LIMIT_HEADERS) or DEFAULT_MAX_EVENTS
        size = _header_int(headers, _SIZE_HEADERS) or DEFAULT_MAX_BYTES
        if self._advertised != (events, size):
            log.info("%s takes %s events / %s bytes per capture", self.name, events, size)
        self._advertised = (events, size)


def _auth(settings: TargetSettings) -> httpx.Auth | None:
    secret = settings.secret()
    if settings.auth == "basic" and settings.username and secret:
        return httpx.BasicAuth(settings.username, secret)
    if settings.auth == "bearer" and secret:
        return _Bearer(secret)
    return None


class _Bearer(httpx.Auth):
    def __init__(self, token: str) -> None:
        self._header = f"Bearer {token}"

    def auth_flow(self, request: httpx.Request) -> Any:
        request.headers["Authorization"] = self._header
        yield request


def retry_after_s(value: str | None) -> float | None:
    """``Retry-After`` as seconds from now: a number of seconds or an HTTP date."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _header_int(headers: httpx.Headers, names: Sequence[str]) -> int | None:
    for name in names:
        value = headers.get(name)
        if value is not None:
            try:
                number = int(value.strip())
            except ValueError:
                continue
            if number > 0:
                return number
    return None


def _problems(response: httpx.Response) -> list[dict[str, Any]]:
    """RFC 7807 problems in a refusal: the body itself, or its ``errors`` list."""
    try:
        body = response.json()
    except ValueError:
        return []
    if isinstance(body, dict):
        errors = body.get("errors")
        if isinstance(errors, list):
            return [p for p in errors if isinstance(p, dict)]
        return [body]
    return []


def _named(events: Sequence[Outgoing], problems: list[dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Each event (by index) a problem names: ``sequenceInEPCISDoc`` (1-based positions,
    a number or a list, as OpenEPCIS writes it), else the problem's ``eventID``."""
    positions: dict[str, list[int]] = {}
    for index, event in enumerate(events):
        positions.setdefault(event.epcis_event_id, []).append(index)
    named: dict[int, dict[str, Any]] = {}
    for problem in problems:
        sequence = problem.get("sequenceInEPCISDoc")
        numbers = sequence if isinstance(sequence, list) else [sequence]
        indexes = [n - 1 for n in numbers if isinstance(n, int) and 1 <= n <= len(events)]
        if not indexes and isinstance(problem.get("eventID"), str):
            indexes = positions.get(problem["eventID"], [])
        for index in indexes:
            named.setdefault(index, problem)
    return named


def _reason(response: httpx.Response) -> str:
    problems = _problems(response)
    if problems:
        return _problem_text(problems[0])
    text = response.text.strip().splitlines()
    return text[0][:300] if text else f"HTTP {response.status_code}"


def _problem_text(problem: dict[str, Any]) -> str:
    parts = [str(problem[key]) for key in ("type", "title", "detail") if problem.get(key)]
    return ": ".join(parts)[:1000] or "refused without a reason"


def _already_exists(problem: dict[str, Any]) -> bool:
    text = " ".join(str(problem.get(key, "")) for key in ("type", "title", "detail"))
    return problem.get("status") == httpx.codes.CONFLICT or any(word in text for word in _EXISTS)


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
