"""The FastAPI application of the central service, and the lifespan that runs the ingest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy.engine import Engine

from linetrace import __version__
from linetrace.central import web
from linetrace.central.api import (
    alarm_rules,
    alarms,
    audit,
    batches,
    dashboard,
    dead_letters,
    docs,
    events,
    health,
    images,
    lot_reports,
    master_data,
    me,
    metrics,
    openapi_docs,
    portal,
    products,
    relay,
    stations,
    stream,
    traces,
)
from linetrace.central.api.errors import EXCEPTION_HANDLERS
from linetrace.central.api.guarded import GuardedApp
from linetrace.central.api.hosts import trusted_hosts
from linetrace.central.api.params import refuse_unstorable_text
from linetrace.central.auth.guard import refuse_unguarded
from linetrace.central.auth.openapi import document_refusals
from linetrace.central.config import CentralSettings
from linetrace.central.ingest.announce import BatchAnnouncer
from linetrace.central.ingest.service import Ingest
from linetrace.central.relay.process import start_relay
from linetrace.central.store import open_engine, redacted
from linetrace.central.store.image_pruner import ImagePruner
from linetrace.central.web import alarms_page, dashboard_page, login, lot_pages, search_pages

__all__ = ["create_app"]

log = logging.getLogger(__name__)


def create_app(
    settings: CentralSettings, *, engine: Engine | None = None, run_ingest: bool = False
) -> FastAPI:
    """The API app; with ``run_ingest`` its lifespan also starts and stops the ingest.

    An ``engine`` handed in stays the caller's to dispose; otherwise the app opens one on
    ``settings.database_url`` at start and disposes it at shutdown. Migrations are not
    run here: ``linetrace central run`` migrates before it serves.
    """

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        app.state.engine = open_engine(settings.database_url) if engine is None else engine
        app.state.ingest = Ingest(settings, app.state.engine) if run_ingest else None
        app.state.announcer = None
        log.info("serving events from %s", redacted(app.state.engine.url))
        if app.state.ingest is not None:
            # Before the ingest connects, so that its first connect announces the batches.
            app.state.announcer = BatchAnnouncer.attach(app.state.ingest, app.state.engine)
            app.state.ingest.start()
        # The relay in a supervised child process of its own (see central/relay/process.py).
        app.state.relay = start_relay(settings) if run_ingest else None
        # No-read pictures past [images] keep_days or max_total_mb, oldest first.
        pruner = ImagePruner(app.state.engine, settings.images).start() if run_ingest else None
        try:
            yield
        finally:
            if pruner is not None:
                await asyncio.to_thread(pruner.stop)
            if app.state.relay is not None:
                await asyncio.to_thread(app.state.relay.stop)
            if app.state.announcer is not None:
                await asyncio.to_thread(app.state.announcer.stop)
            if app.state.ingest is not None:
                # Joins the writer thread; off the event loop so shutdown stays responsive.
                await asyncio.to_thread(app.state.ingest.stop)
            if own_engine:
                app.state.engine.dispose()

    app = GuardedApp(
        # Only the configured host names, and security headers on every answer (hosts.py).
        allowed_hosts=trusted_hosts(settings.api),
        cors_origins=settings.api.cors_origins,
        docs_url=None,  # served by docs.router, under its own Content-Security-Policy
        openapi_url=None,  # served by docs.router too, to signed-in people and tokens only
        redoc_url=None,
        title="linetrace central",
        version=__version__,
        description="Scan events from the packing lines, stored once each.",
        lifespan=lifespan,
        # Text no database can store is a 422 on every route; error bodies as documented.
        dependencies=[Depends(refuse_unstorable_text)],
        exception_handlers=EXCEPTION_HANDLERS,
    )
    # The pages read the sites' time zones and languages from here (central/web/render.py).
    app.state.settings = settings
    app.state.auth_settings = settings.auth
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(events.router)
    app.include_router(images.router)
    app.include_router(stations.router)
    app.include_router(alarms.router)
    app.include_router(alarm_rules.router)
    app.include_router(dead_letters.router)
    app.include_router(products.router)
    app.include_router(master_data.router)
    app.include_router(portal.router)
    app.include_router(relay.router)
    app.include_router(lot_reports.router)
    app.include_router(batches.router)
    app.include_router(traces.router)
    app.include_router(audit.router)
    app.include_router(docs.router)
    app.include_router(dashboard.router)
    app.include_router(stream.router)
    app.include_router(dashboard_page.router)
    app.include_router(login.router)
    app.include_router(me.router)
    app.include_router(web.router)
    app.include_router(alarms_page.router)
    app.include_router(lot_pages.router)
    app.include_router(search_pages.router)
    app.mount("/static", web.static_files(), name="static")
    app.mount(docs.STATIC_PATH, docs.static_files(), name="docs-static")
    # Deny by default: a route without allow(...) or public() stops the start here.
    refuse_unguarded(app.routes, openapi_url=app.openapi_url)
    document_refusals(app)  # the guard's 401 and 403 in /openapi.json
    # Summaries, descriptions and examples the routers leave out (openapi_examples.json).
    openapi_docs.document(app)
    return app
