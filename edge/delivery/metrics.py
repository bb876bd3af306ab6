"""The station's Prometheus endpoint: the status figures, read at scrape time.

Nothing is counted twice: a scrape takes one :class:`~linetrace.edge.delivery.status.StationFigures`
snapshot, the same the status message is made of, and exports each field as
``linetrace_edge_<name>`` (counters get Prometheus' ``_total``), labelled with the station.
A registry of its own per agent keeps several agents in one process (tests) apart.
"""

from __future__ import annotations

import logging
import math
import threading
from collections.abc import Callable, Iterator
from types import TracebackType
from typing import Self
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from linetrace.broker.contract.topics import StationId
from linetrace.edge.delivery.status import StationFigures
from linetrace.errors import LinetraceError

__all__ = ["PREFIX", "MetricsError", "MetricsServer", "StationCollector"]

logger = logging.getLogger(__name__)

PREFIX = "linetrace_edge_"
_LABELS = ("site", "line", "station")


class MetricsError(LinetraceError):
    """The metrics endpoint cannot listen (port taken, address not on this machine)."""


class StationCollector(Collector):
    """Exports one station's figures, taking a fresh snapshot on every scrape."""

    def __init__(self, station: StationId, figures: Callable[[], StationFigures]) -> None:
        self._labels = [station.site, station.line, station.station]
        self._figures = figures

    def collect(self) -> Iterator[Metric]:
        snapshot = self._figures()
        for name, value, figure in snapshot.described():
            number = math.nan if value is None else float(value)
            family: CounterMetricFamily | GaugeMetricFamily
            if figure.kind == "counter":
                family = CounterMetricFamily(PREFIX + name, figure.help, labels=_LABELS)
            else:
                family = GaugeMetricFamily(PREFIX + name, figure.help, labels=_LABELS)
            family.add_metric(self._labels, number)
            yield family


class MetricsServer:
    """``/metrics`` over HTTP on ``bind:port`` until :meth:`close`."""

    def __init__(
        self,
        station: StationId,
        figures: Callable[[], StationFigures],
        *,
        port: int,
        bind: str = "127.0.0.1",
    ) -> None:
        self.registry = CollectorRegistry()
        self.registry.register(StationCollector(station, figures))
        try:
            server, thread = start_http_server(port, addr=bind, registry=self.registry)
        except OSError as exc:
            raise MetricsError(f"metrics endpoint {bind}:{port}: {exc.strerror}") from exc
        self._server: WSGIServer = server
        self._thread: threading.Thread = thread
        self.port = int(server.server_address[1])
        logger.info("metrics on http://%s:%d/metrics", bind, self.port)

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        trace: TracebackType | None,
    ) -> None:
        self.close()
