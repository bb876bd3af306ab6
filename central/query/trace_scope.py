"""A trace as a scoped person may see it: only what their sites and lines saw.

In: a :class:`CodeTrace` or :class:`LotTrace` and a ``sees(site, line)`` test (the
principal's). Out: the same trace less every station-bound part outside the scope, or
:class:`CodeNotFound` / :class:`LotNotFound` when nothing in scope names it (what is out
of scope does not exist for the reader; it is not "forbidden", which would confirm it).
The API and the pages both go through here, so they cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable

from linetrace.central.query.code_trace import CodeNotFound
from linetrace.central.query.lot_trace import LotNotFound
from linetrace.central.query.trace_models import CodeTrace, LotTrace

__all__ = ["SeesLine", "code_trace_within", "lot_trace_within"]

SeesLine = Callable[[str, str], bool]


def _station_in(sees: SeesLine, station: str) -> bool:
    site, line, *_ = [*station.split("/"), "", ""]
    return sees(site, line)


def code_trace_within(trace: CodeTrace, sees: SeesLine) -> CodeTrace:
    """Sightings, mismatches and packings of the scope only; none at all: not found."""
    sightings = [s for s in trace.sightings if _station_in(sees, s.station)]
    containers = [c for c in trace.containers if _station_in(sees, c.station)]
    if not sightings and not containers:
        raise CodeNotFound("nothing within your scope names this code")
    return trace.model_copy(
        update={
            "sightings": sightings,
            "containers": containers,
            "packing_history": [c for c in trace.packing_history if _station_in(sees, c.station)],
            "contents": [c for c in trace.contents if _station_in(sees, c.station)],
            "mismatches": [m for m in trace.mismatches if _station_in(sees, m.station)],
        }
    )


def lot_trace_within(trace: LotTrace, sees: SeesLine) -> LotTrace:
    """Per-station parts of the scope only; no station of the lot in scope: not found."""
    stations = [s for s in trace.stations if _station_in(sees, s.station)]
    if not stations:
        raise LotNotFound(f"nothing within your scope names lot {trace.lot}")
    return trace.model_copy(
        update={
            "stations": stations,
            "noreads": [n for n in trace.noreads if _station_in(sees, n.station)],
            "mismatch_counts": [m for m in trace.mismatch_counts if _station_in(sees, m.station)],
            "mismatches": [m for m in trace.mismatches if _station_in(sees, m.station)],
            "gaps": [g for g in trace.gaps if _station_in(sees, g.station)],
        }
    )
