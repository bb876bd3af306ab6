"""The ``vn-portal`` relay target: Vietnam's National Traceability Portal.

The portal does not take EPCIS. It takes master data first (the organisation, products
with an image URL, locations), then per production order a trace chain and its stages,
each record created and then confirmed. So delivering a document's events here means:
place each event in its production batch's chain at its station's location (one stage
per batch, location and stage type: every read there folds into it), make sure the
organisation, the product, the locations, the chain and the stage exist and are
confirmed on the portal (synced once, and again when our master data changes), and
answer every event accepted once its stage is confirmed.

Idempotent on resend: every record the portal holds is remembered with its id in
``vn_portal_records`` (:class:`~.vn_portal_data.Records`), noted *before* its create is
sent, so a create whose answer was lost is looked up by our reference instead of made
twice, and a confirm whose answer was lost is simply sent again (confirming twice is
harmless). A lot missing a required element of Circular 02/2024 is refused before any
call (:func:`linetrace.central.relay.portal_check.missing_required`).

The adapter reads central's database: the worker hands it the engine with
:meth:`VnPortalTarget.bind` (see :class:`DatabaseBound`). Every portal name is
PROVISIONAL (:mod:`.vn_portal_fields`).
"""

from __future__ import annotations

import logging
import threading
from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable
from uuid import UUID

import httpx

from linetrace.central.relay.portal_check import missing_required
from linetrace.central.relay.targets.base import Outcome, Outgoing, TargetError
from linetrace.central.relay.targets.vn_portal_client import PortalClient, PortalFailure
from linetrace.central.relay.targets.vn_portal_data import (
    Records,
    StageEvent,
    chain_payload,
    fingerprint,
    location_payload,
    master_rows,
    organisation_payload,
    product_payload,
    resolve_events,
    stage_key,
    stage_payload,
)
from linetrace.central.relay.targets.vn_portal_fields import PortalNames, portal_names

if TYPE_CHECKING:
    from sqlalchemy.engine import Engine

    from linetrace.central.relay.settings import TargetSettings

__all__ = ["DatabaseBound", "VnPortalTarget", "open_vn_portal"]

log = logging.getLogger(__name__)

# One delivery places its events in their stages; they cost the portal nothing each (a
# stage is a handful of calls whatever the number of reads folded into it), so a
# document may be large. 500 events keep one delivery's database reads small.
MAX_EVENTS = 500
# Bytes of the EPCIS events handed in (never sent as such): a bound for the worker's
# document splitter only, roomy for 500 events of about a kilobyte.
MAX_BYTES = 1_000_000


@runtime_checkable
class DatabaseBound(Protocol):
    """A target that reads central's database: the worker binds it before delivering."""

    def bind(self, engine: Engine) -> None: ...


class VnPortalTarget:
    """One ``[[relay.targets]]`` entry of kind ``vn-portal``."""

    # Read by the relay worker: lots lacking a required element of Circular 02/2024 are
    # refused before delivery (portal_check.missing_required); deliver checks it too.
    requires_portal_elements = True

    def __init__(
        self, name: str, client: PortalClient, names: PortalNames, engine: Engine | None = None
    ) -> None:
        self.name = name
        self._client = client
        self._names = names
        self._engine: Engine | None = None
        self._records: Records | None = None
        self._last_error: str | None = None
        self._lock = threading.Lock()
        if engine is not None:
            self.bind(engine)

    def bind(self, engine: Engine) -> None:
        """Read and remember in this database (central's)."""
        self._engine = engine
        self._records = Records(engine, self.name)

    def limits(self) -> tuple[int, int]:
        return MAX_EVENTS, MAX_BYTES

    def health(self) -> dict[str, object]:
        return {"kind": "vn-portal", **self._client.health(), "last_error": self._last_error}

    def close(self) -> None:
        self._client.close()

    def already_captured(self, events: Sequence[Outgoing]) -> set[UUID]:
        """Events whose stage the portal has confirmed (asked about lost answers)."""
        if self._engine is None or self._records is None:
            return set()
        with self._engine.connect() as connection:
            placed = resolve_events(connection, [event.source_event_id for event in events])
        keys = {
            event_id: stage_key(found, self._names.stage_type(found.location_kind))
            for event_id, found in placed.items()
            if not isinstance(found, str)
        }
        confirmed = self._records.confirmed_keys("stage", set(keys.values()))
        return {event_id for event_id, key in keys.items() if key in confirmed}

    def deliver(self, events: Sequence[Outgoing]) -> Outcome:
        """Place ``events`` in their chains' stages on the portal; one delivery at a time.

        The worker may call from several threads at once; records are created in a
        fixed order (organisation, product, locations, chain, stages) that two
        concurrent deliveries would race on, so deliveries to one target take turns.
        """
        with self._lock:
            return self._deliver(events)

    def _deliver(self, events: Sequence[Outgoing]) -> Outcome:
        if self._engine is None or self._records is None:
            return Outcome.all_retry(
                events, f"vn-portal target {self.name} is not bound to a database"
            )
        outcome = Outcome()
        with self._engine.connect() as connection:
            placed = resolve_events(connection, [event.source_event_id for event in events])
        by_batch: dict[int, list[StageEvent]] = defaultdict(list)
        for event_id, found in placed.items():
            if isinstance(found, str):
                outcome.rejected[event_id] = found
            else:
                by_batch[found.batch_id].append(found)
        pending = list(by_batch.items())
        for index, (batch_id, stage_events) in enumerate(pending):
            try:
                self._deliver_batch(batch_id, stage_events, outcome)
            except PortalFailure as failure:
                self._last_error = failure.reason
                ids = [event.event_id for event in stage_events]
                if not failure.transient:
                    log.warning("portal refused batch %s: %s", batch_id, failure.reason)
                    outcome.rejected.update(dict.fromkeys(ids, failure.reason))
                    continue
                later = [e.event_id for _, rest in pending[index + 1 :] for e in rest]
                outcome.retry += ids + later
                outcome.error = failure.reason
                outcome.retry_after_s = failure.retry_after_s
                break
        else:
            if outcome.accepted:
                self._last_error = None
        return outcome

    def _deliver_batch(
        self, batch_id: int, stage_events: list[StageEvent], outcome: Outcome
    ) -> None:
        assert self._engine is not None  # noqa: S101 - deliver checked it
        first = stage_events[0]
        glns = {event.gln for event in stage_events if event.gln}
        with self._engine.connect() as connection:
            missing = missing_required(connection, first.gtin, first.lot)
            org, product, places, batch = master_rows(connection, first.gtin, glns, batch_id)
        unplaced = [e for e in stage_events if e.gln is None or e.gln not in places]
        if missing or org is None or product is None:
            reason = f"lot {first.gtin}/{first.lot} lacks what the portal requires: " + (
                "; ".join(missing) or "the producer or the product is not set"
            )
            outcome.rejected.update({e.event_id: reason for e in stage_events})
            return
        for event in unplaced:
            outcome.rejected[event.event_id] = (
                f"station {event.station} has no GLN with a named location: the portal's "
                "location trace code (linetrace central location set GLN ...)"
            )
        org_id = self._ensure("organisation", "organisation", self._names.paths.organisation,
                              organisation_payload(self._names, org), what="the organisation")  # fmt: skip
        product_id = self._ensure(
            "product", first.gtin, self._names.paths.products,
            product_payload(self._names, product, org, org_id),
            what=f"product {first.gtin}", image_url=product["image_url"],
        )  # fmt: skip
        location_ids = {
            gln: self._ensure("location", gln, self._names.paths.locations,
                              location_payload(self._names, place, org_id), what=f"location {gln}")
            for gln, place in sorted(places.items())
        }  # fmt: skip
        chain_id = self._ensure("chain", str(batch_id), self._names.paths.chains,
                                chain_payload(self._names, batch, product_id),
                                what=f"production order of batch {batch_id}")  # fmt: skip
        stages: dict[str, list[StageEvent]] = defaultdict(list)
        for event in stage_events:
            if event not in unplaced:
                stages[stage_key(event, self._names.stage_type(event.location_kind))].append(event)
        for key, members in stages.items():
            earliest = min(members, key=lambda e: e.at)
            payload = stage_payload(
                self._names, earliest, chain_id=chain_id,
                location_id=location_ids[str(earliest.gln)],
                stage_type=self._names.stage_type(earliest.location_kind),
            )  # fmt: skip
            self._ensure("stage", key, self._names.paths.stages, payload, what=f"stage {key}",
                         mutable=False)  # fmt: skip
            outcome.accepted += [e.event_id for e in members]

    def _ensure(
        self,
        kind: str,
        key: str,
        path: str,
        payload: dict[str, Any],
        *,
        what: str,
        image_url: str | None = None,
        mutable: bool = True,
    ) -> str:
        """The portal id of this record, created, updated and confirmed as needed."""
        assert self._records is not None  # noqa: S101 - deliver checked it
        records, call = self._records, self._client.call
        printed = fingerprint(payload)
        known = records.get(kind, key)
        portal_id = known.portal_id if known is not None else None
        confirmed = known is not None and known.confirmed
        if portal_id is None and known is not None:
            portal_id = self._look_up(path, payload, what)  # a create whose answer was lost
            if portal_id is not None:
                records.created(kind, key, portal_id, known.fingerprint)
        if portal_id is None:
            if known is None and not records.pending(kind, key, printed):
                raise PortalFailure(
                    f"another relay instance is creating {what} on the portal; trying again",
                    kind="busy",
                    transient=True,
                )
            answer = call("POST", path, body=payload, what=what, image_url=image_url)
            portal_id = self._id_of(answer, what)
            records.created(kind, key, portal_id, printed)
            confirmed = False
        elif mutable and known is not None and known.fingerprint != printed:
            call("PUT", f"{path}/{portal_id}", body=payload, what=what, image_url=image_url)
            records.created(kind, key, portal_id, printed)
            confirmed = False
        if not confirmed:
            confirm = self._names.paths.confirm.replace("{id}", portal_id)
            call("PUT", f"{path}{confirm}", what=f"the confirmation of {what}")
            records.confirmed(kind, key)
        return portal_id

    def _look_up(self, path: str, payload: dict[str, Any], what: str) -> str | None:
        reference = str(payload[self._names.fields.reference])
        found = self._client.call(
            "GET",
            path,
            params={self._names.fields.reference: reference},
            what=f"a look-up of {what}",
        )
        if isinstance(found, list) and found:
            return self._id_of(found[0], what)
        return None

    def _id_of(self, answer: object, what: str) -> str:
        record_id = answer.get(self._names.fields.answer_id) if isinstance(answer, dict) else None
        if record_id in (None, ""):
            raise PortalFailure(
                f"the portal's answer to {what} carries no {self._names.fields.answer_id}",
                kind="refused",
                transient=True,
            )
        return str(record_id)


def open_vn_portal(
    settings: TargetSettings, *, transport: httpx.BaseTransport | None = None
) -> VnPortalTarget:
    """The adapter for ``settings`` (auth ``oauth2``: username = client id, secret = env)."""
    if settings.auth != "oauth2" or not settings.username or settings.secret() is None:
        raise TargetError(
            f'relay target {settings.name}: vn-portal needs auth = "oauth2" with a username '
            "(the client id) and secret_env (the variable holding the client secret)"
        )
    names = portal_names(settings.options)
    token_url = str(settings.options.get("token_url") or settings.url + names.paths.token)
    client = PortalClient(
        settings.url,
        token_url=token_url,
        client_id=settings.username,
        client_secret=str(settings.secret()),
        names=names,
        timeout_s=settings.timeout_s,
        transport=transport,
    )
    return VnPortalTarget(settings.name, client, names)
