"""The demo plant: which lines and stations it runs, and where and on which ports.

Two lines of one site, each with a labelling station (item labels, read one by one) and a
packing station (cases with an SSCC label seen together with their items: pack events).
Each line packs one product in one lot, so the demo starts one production batch per line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

__all__ = ["SITE", "STATIONS", "DemoPlan", "DemoStation"]

SITE = "demo-site"
# The site's clock: the demo imitates a Vietnamese plant.
UTC_OFFSET = "+07:00"


@dataclass(frozen=True)
class DemoStation:
    """One camera of the plant and what its footage shows."""

    line: str
    station: str
    role: str  # the edge's StationRole value
    number: int  # 1-9: keeps this station's serials apart from every other station's

    @property
    def id(self) -> str:
        return f"{SITE}/{self.line}/{self.station}"

    @property
    def line_id(self) -> str:
        return f"{SITE}/{self.line}"

    @property
    def path(self) -> str:
        """The station's stream on the demo camera server."""
        return f"/{self.line}/{self.station}.mjpg"


STATIONS: tuple[DemoStation, ...] = (
    DemoStation("line-1", "label-1", "labelling", 1),
    DemoStation("line-1", "pack-1", "packing", 2),
    DemoStation("line-2", "label-1", "labelling", 3),
    DemoStation("line-2", "pack-1", "packing", 4),
)


@dataclass(frozen=True)
class DemoPlan:
    """Where the demo puts things, which ports it uses and how its cameras film."""

    state: Path
    broker_port: int
    api_port: int
    camera_port: int
    sandbox_port: int | None  # None: no relay
    fps: float
    items_per_second: float
    items_per_video: int

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    @property
    def sandbox_url(self) -> str:
        return f"http://127.0.0.1:{self.sandbox_port}"

    def camera_url(self, station: DemoStation) -> str:
        return f"http://127.0.0.1:{self.camera_port}{station.path}"

    @property
    def logs(self) -> Path:
        return self.state / "logs"
