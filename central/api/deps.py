"""What the routers take from the running app: the database engine and the ingest."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.engine import Engine

from linetrace.central.ingest.service import Ingest

__all__ = ["EngineDep", "IngestDep"]


def _engine(request: Request) -> Engine:
    engine: Engine = request.app.state.engine
    return engine


def _ingest(request: Request) -> Ingest | None:
    ingest: Ingest | None = request.app.state.ingest
    return ingest


EngineDep = Annotated[Engine, Depends(_engine)]
IngestDep = Annotated["Ingest | None", Depends(_ingest)]
