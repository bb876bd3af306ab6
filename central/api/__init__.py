"""The central service's HTTP API: one router per area, assembled by :func:`.app.create_app`.

In: HTTP requests, the settings and the running ingest. Out: JSON responses whose shapes
are the routers' own models and :mod:`.models` (those the query layer fills in), plus the
operators' web page (:mod:`linetrace.central.web`). Nothing is imported here, so the
query layer can use :mod:`.models` without loading the routers.
"""

__all__: list[str] = []
