"""The ``epcis-async`` and ``epcis-sync`` profiles: two real kinds of EPCIS 2.0 repository.

``epcis-async`` behaves like OpenEPCIS: ``POST /capture`` answers 202 + ``Location`` to a
capture job that may read ``running: true`` for ``job_running_s`` (the relay must poll),
limits 100 events / 100,000 bytes, a repeated eventID is refused (409 on ``POST
/events``, a per-event error in a capture job), ``rollback`` (the default) fails the
whole job on one bad event, ``proceed`` stores the good ones.

``epcis-sync`` behaves like FasTnT: capture is synchronous, 201 + ``Location`` to a job
that is already finished; 499 events / 20,000 bytes (the size header misspelt
``GS1-EPCIS-Capture-File-SizeLimit``, as FasTnT sends it); only ``rollback``; a resent
event is STORED TWICE (no uniqueness check); an invalid document is refused with 400
whose ``errors`` name each bad event like a job's.

Both validate against GS1's schema (when the sandbox has it), take ``application/ld+json``
or ``application/json``, check HTTP Basic or bearer auth when configured, and show what
they accepted on ``GET /events`` (an EPCISQueryDocument; ``?eventID=`` filters, repeatable
or comma-separated; ``?perPage=N`` pages with a ``nextPageToken`` in a ``Link`` header;
without ``perPage``, everything). Job errors carry ``sequenceInEPCISDoc`` as OpenEPCIS
does: a list of 1-based positions in the eventList.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from linetrace.central.relay.sandbox.problems import event_problem, problem
from linetrace.central.relay.sandbox.state import SandboxState
from linetrace.central.relay.sandbox.store import CaptureJob, EventStore
from linetrace.central.relay.sandbox.validation import events_of

__all__ = ["ASYNC", "SYNC", "EpcisFlavour", "EpcisProfile", "build_async", "build_sync"]

log = logging.getLogger(__name__)

EPCIS_CONTEXT = "https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"
MEDIA_TYPES = ("application/ld+json", "application/json")
BEHAVIOUR_HEADER = "GS1-Capture-Error-Behaviour"


@dataclass(frozen=True)
class EpcisFlavour:
    """What tells one repository from another, as seen from a client."""

    name: str
    max_events: int
    max_bytes: int
    size_header: str
    synchronous: bool
    stores_duplicates: bool
    behaviours: tuple[str, ...]


# OpenEPCIS CE defaults (relay-targets.md): 100 events, 100,000 bytes; rejects duplicates.
ASYNC = EpcisFlavour(
    "epcis-async", 100, 100_000, "GS1-EPCIS-Capture-File-Size-Limit", False, False,
    ("rollback", "proceed"),
)  # fmt: skip
# FasTnT: 500 events already gets 413 (499 max), 20,000 bytes; stores a resent event twice.
SYNC = EpcisFlavour(
    "epcis-sync", 499, 20_000, "GS1-EPCIS-Capture-File-SizeLimit", True, True, ("rollback",)
)


class EpcisProfile:
    """One EPCIS repository stand-in on a sandbox's shared state."""

    def __init__(self, state: SandboxState, flavour: EpcisFlavour) -> None:
        self.state = state
        self.flavour = flavour
        self.name = flavour.name
        self.store = EventStore()

    def routes(self) -> Sequence[BaseRoute]:
        return [
            Route("/capture", self.capture, methods=["POST"]),
            Route("/capture", self.discover, methods=["OPTIONS"]),
            Route("/capture", self.list_jobs, methods=["GET"]),
            Route("/capture/{capture_id}", self.job, methods=["GET"]),
            Route("/events", self.capture_one, methods=["POST"]),
            Route("/events", self.query, methods=["GET"]),
            Route("/events/{event_id:path}", self.one_event, methods=["GET"]),
        ]

    def limits(self) -> dict[str, object]:
        return {
            "GS1-EPCIS-Capture-Limit": self.flavour.max_events,
            self.flavour.size_header: self.flavour.max_bytes,
            "capture": "synchronous (201)" if self.flavour.synchronous else "asynchronous (202)",
            "duplicates": "stored" if self.flavour.stores_duplicates else "rejected (409)",
        }

    def stats(self) -> dict[str, object]:
        return {
            "stored_events": len(self.store.events),
            "distinct_event_ids": len(self.store.index),
            "capture_jobs": len(self.store.jobs),
        }

    def reset(self) -> None:
        self.store.reset()

    # -- handlers ---------------------------------------------------------------------

    async def discover(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        return Response(status_code=204, headers=self._limit_headers())

    def _limit_headers(self) -> dict[str, str]:
        return {
            "Allow": "OPTIONS, POST, GET",
            "GS1-EPCIS-Version": "2.0.0",
            "GS1-CBV-Version": "2.0.0",
            "GS1-EPCIS-Capture-Limit": str(self.flavour.max_events),
            self.flavour.size_header: str(self.flavour.max_bytes),
            BEHAVIOUR_HEADER: self.flavour.behaviours[0],
        }

    async def capture(self, request: Request) -> Response:
        parsed = await self._read(request)
        if isinstance(parsed, Response):
            return parsed
        document = parsed
        behaviour = request.headers.get(BEHAVIOUR_HEADER, "rollback").strip().lower()
        if behaviour not in self.flavour.behaviours:
            self.state.stats.reject("behaviour")
            return problem(400, f"{BEHAVIOUR_HEADER} {behaviour!r} not supported here: use "
                           f"{' or '.join(self.flavour.behaviours)}")  # fmt: skip
        verdict = self.state.validator.check(document)
        if verdict.document:
            self.state.stats.reject("invalid_document")
            return problem(400, "; ".join(verdict.document))
        events: list[dict[str, Any]] = events_of(document) or []
        if len(events) > self.flavour.max_events:
            self.state.stats.reject("too_many_events")
            return problem(413, f"{len(events)} events; at most {self.flavour.max_events} per "
                           "capture")  # fmt: skip
        self.state.stats.add("documents")
        errors = self._event_errors(events, verdict.events)
        if self.flavour.synchronous:
            return self._capture_now(events, errors)
        return self._capture_job(events, errors, behaviour)

    def _event_errors(
        self, events: list[dict[str, Any]], invalid: dict[int, list[str]]
    ) -> dict[int, dict[str, Any]]:
        """Per event (0-based index): its problem, schema first, then a repeated eventID."""
        errors: dict[int, dict[str, Any]] = {}
        seen: set[str] = set()
        for index, event in enumerate(events):
            event_id = event.get("eventID")
            if index in invalid:
                self.state.stats.reject("schema")
                errors[index] = event_problem(400, "; ".join(invalid[index]), index + 1, event_id)
                continue
            if not isinstance(event_id, str):
                continue
            repeated = event_id in seen or (
                self.store.known(event_id) and "errorDeclaration" not in event
            )
            seen.add(event_id)
            if repeated:
                self.state.stats.add("duplicates")
                if not self.flavour.stores_duplicates:
                    self.state.stats.reject("duplicate")
                    errors[index] = event_problem(
                        409, f"event {event_id} already exists", index + 1, event_id
                    )
        return errors

    def _capture_job(
        self, events: list[dict[str, Any]], errors: dict[int, dict[str, Any]], behaviour: str
    ) -> Response:
        state = self.state
        now = state.monotonic()
        finishes = now + state.job_running_s
        keep = events
        if errors:
            keep = [] if behaviour == "rollback" else [
                e for i, e in enumerate(events) if i not in errors
            ]  # fmt: skip
        self.store.add(keep, finishes, replace=True)
        state.stats.add("events_accepted", len(keep))
        job = self._job(finishes, not errors, behaviour, list(errors.values()))
        return Response(status_code=202, headers={"Location": f"/capture/{job.capture_id}"})

    def _capture_now(
        self, events: list[dict[str, Any]], errors: dict[int, dict[str, Any]]
    ) -> Response:
        if errors:
            return problem(400, f"{len(errors)} of {len(events)} events are invalid; none "
                           "were captured", errors=list(errors.values()))  # fmt: skip
        now = self.state.monotonic()
        self.store.add(events, now, replace=False)
        self.state.stats.add("events_accepted", len(events))
        job = self._job(now, True, "rollback", [])
        return Response(status_code=201, headers={"Location": f"/capture/{job.capture_id}"})

    def _job(
        self, finishes: float, success: bool, behaviour: str, errors: list[dict[str, Any]]
    ) -> CaptureJob:
        wall = self.state.now()
        job = CaptureJob(uuid.uuid4().hex, wall, finishes, None, success, behaviour, errors)
        if finishes <= self.state.monotonic():
            job.finished_at = wall
        self.store.add_job(job)
        return job

    async def capture_one(self, request: Request) -> Response:
        """``POST /events``: one event, synchronously: 201, 409 for a known eventID (async)."""
        parsed = await self._read(request)
        if isinstance(parsed, Response):
            return parsed
        event = parsed
        wrapper = {
            "@context": [EPCIS_CONTEXT], "type": "EPCISDocument", "schemaVersion": "2.0",
            "creationDate": self.state.now().isoformat(), "epcisBody": {"eventList": [event]},
        }  # fmt: skip
        verdict = self.state.validator.check(wrapper)
        if verdict.document or verdict.events:
            self.state.stats.reject("schema")
            return problem(400, "; ".join(verdict.document + verdict.events.get(0, [])))
        self.state.stats.add("documents")
        errors = self._event_errors([event], {})
        if errors:
            return problem(409, errors[0]["detail"], eventID=event.get("eventID"))
        self.store.add([event], self.state.monotonic(), replace=True)
        self.state.stats.add("events_accepted")
        return Response(
            status_code=201, headers={"Location": f"/events/{quote(event['eventID'], safe='')}"}
        )

    async def job(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        job = self.store.jobs.get(request.path_params["capture_id"])
        if job is None:
            return problem(404, f"no capture job {request.path_params['capture_id']}")
        return JSONResponse(job.as_json(self.state.monotonic(), self.state.now()))

    async def list_jobs(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        now, wall = self.state.monotonic(), self.state.now()
        return JSONResponse([j.as_json(now, wall) for j in list(self.store.jobs.values())])

    async def query(self, request: Request) -> Response:
        """``GET /events``: what was accepted, as an EPCISQueryDocument."""
        if (refused := self._refused(request)) is not None:
            return refused
        wanted = {
            part for value in request.query_params.getlist("eventID")
            for part in value.split(",") if part
        }  # fmt: skip
        events = self.store.visible(self.state.monotonic(), wanted or None)
        headers = {}
        per_page = request.query_params.get("perPage")
        if per_page is not None:
            try:
                size = max(1, int(per_page))
                start = int(request.query_params.get("nextPageToken", "0"))
            except ValueError:
                return problem(400, "perPage and nextPageToken are integers here")
            if start + size < len(events):
                token = f"perPage={size}&nextPageToken={start + size}"
                headers["Link"] = f'<{request.url.path}?{token}>; rel="next"'
            events = events[start : start + size]
        return JSONResponse(self._query_document(events), headers=headers,
                            media_type="application/ld+json")  # fmt: skip

    async def one_event(self, request: Request) -> Response:
        if (refused := self._refused(request)) is not None:
            return refused
        event_id = request.path_params["event_id"]
        events = self.store.visible(self.state.monotonic(), {event_id})
        if not events:
            return problem(404, f"no event {event_id}")
        return JSONResponse(self._query_document(events), media_type="application/ld+json")

    def _query_document(self, events: list[dict[str, Any]]) -> dict[str, Any]:
        return {
            "@context": [EPCIS_CONTEXT],
            "type": "EPCISQueryDocument",
            "schemaVersion": "2.0",
            "creationDate": self.state.now().isoformat(timespec="milliseconds"),
            "epcisBody": {
                "queryResults": {
                    "queryName": "SimpleEventQuery",
                    "resultsBody": {"eventList": events},
                }
            },
        }

    # -- request checks -----------------------------------------------------------------

    def _refused(self, request: Request) -> Response | None:
        why = self.state.auth.problem(request.headers)
        if why is None:
            return None
        self.state.stats.reject("unauthorised")
        return problem(401, why, headers={"WWW-Authenticate": self.state.auth.challenge()})

    async def _read(self, request: Request) -> Any:
        """The request's JSON after auth, media type and size checks, or the answer refusing it."""
        if (refused := self._refused(request)) is not None:
            return refused
        media = request.headers.get("content-type", "").split(";")[0].strip().lower()
        if media not in MEDIA_TYPES:
            self.state.stats.reject("media_type")
            return problem(
                415, f"content type {media or 'none'!r}; send {' or '.join(MEDIA_TYPES)}"
            )
        body = await request.body()
        if len(body) > self.flavour.max_bytes:
            self.state.stats.reject("too_large")
            return problem(413, f"{len(body)} bytes; at most {self.flavour.max_bytes} per request")
        try:
            return json.loads(body)
        except (ValueError, UnicodeDecodeError) as exc:
            self.state.stats.reject("malformed")
            return problem(400, f"not JSON: {exc}")


def build_async(state: SandboxState) -> EpcisProfile:
    return EpcisProfile(state, ASYNC)


def build_sync(state: SandboxState) -> EpcisProfile:
    return EpcisProfile(state, SYNC)
