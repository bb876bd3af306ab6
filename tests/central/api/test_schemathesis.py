"""Every operation of the central API, fuzzed from its own OpenAPI document by schemathesis
with all its checks, on SQLite and on PostgreSQL: no 5xx, and every answer (status code,
content type, headers, body) as the document says.

The database holds a real lot first (a batch, reads at two stations, a gap that raises an
alarm, a dead letter, the product and the organisation's master data), so that the reads
answer 200 with real bodies and not only 404. Generation is derandomized and bounded, so
the run is the same on every machine and takes a minute or so for both databases.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from hypothesis import HealthCheck, settings
from sqlalchemy.engine import Engine

from linetrace.central.api.app import create_app
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import open_engine
from tests.central.auth_helpers import login_headers
from tests.central.helpers import central_settings, events_topic
from tests.central.relay.portal_helpers import stored_lot
from tests.central.trace_helpers import item, store

# Bounded so that both databases together take a minute or two on a busy two-core machine.
MAX_EXAMPLES = 50

CONFIG = schemathesis.Config.from_dict(
    {
        "seed": 12,
        "generation": {
            "max-examples": MAX_EXAMPLES,
            "deterministic": True,
            "database": "none",
            # Every case carries an admin's token (the fixture below): fuzzing the token
            # away would only test the guard, which tests/central/auth walks in full.
            "with-security-parameters": False,
        },
        "phases": {"stateful": {"enabled": False}},
        "checks": {
            # The document gives each parameter's type and bounds, not the rules behind
            # it (a GTIN's check digit, a station id's grammar, a lot's GS1 characters):
            # a value that fits the type but breaks such a rule is a documented 422.
            "positive_data_acceptance": {"expected-statuses": ["2xx", "400", "404", "409", "422"]},
        },
    }
)


def _seed(engine: Engine) -> None:
    lot = stored_lot(engine)
    # A gap in pack-1's seqs (an open seq_gap alarm) and a message from a station nobody
    # registered (a dead letter).
    store(engine, item(9, "000009", lot.batch.started_at))
    write_batch(engine, [Inbound(events_topic("hcm1/L9/ghost"), b"{}", lot.batch.started_at)])


@pytest.fixture
def api(database_url: str) -> Iterator[FastAPI]:
    """The app on a seeded database of this test's own (schemathesis runs its lifespan)."""
    engine = open_engine(database_url)
    try:
        _seed(engine)
        yield create_app(central_settings(database_url), engine=engine)
    finally:
        engine.dispose()


@pytest.fixture
def admin(database_url: str) -> dict[str, str]:
    """An admin's bearer token: every operation is open to it (tests/central/auth walks
    the refusals)."""
    return login_headers(database_url)


# The document as the app serves it, from an app on an empty in-memory database that
# serves nothing else; each test calls its own app in process.
# (``schemathesis.pytest.from_fixture`` would load one per backend, but its lazy loader
# does not run on pytest 9.)
# (Read from the app itself: /openapi.json, like every route, needs a login.)
_described = create_app(central_settings("sqlite://"))
_loaded = schemathesis.openapi.from_dict(_described.openapi(), config=CONFIG)
_loaded.app = _described  # each case is sent to its own test's app (call_and_validate)
schema = _loaded.exclude(
    # A Server-Sent Events stream answers for minutes by design: an in-process call would
    # wait that long per case. tests/central/dashboard/test_stream.py tests it over HTTP.
    path="/api/stream"
)


@schema.parametrize()
# One database per operation and backend, kept across its examples as a real one would be.
@settings(suppress_health_check=[HealthCheck.function_scoped_fixture])
def test_every_operation_keeps_its_documented_promises(
    case: schemathesis.Case[Any], api: FastAPI, admin: dict[str, str]
) -> None:
    case.call_and_validate(app=api, headers=admin)
