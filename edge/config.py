"""The edge agent's configuration: one TOML file per station, every key overridable.

Precedence, highest first: environment variables (``LINETRACE_EDGE_`` + the key path in
capitals with ``__`` between levels, e.g. ``LINETRACE_EDGE_MQTT__PASSWORD``), then the TOML
file, then the defaults. Secrets belong in the environment (a systemd
``EnvironmentFile``), the rest in the file. Everything is validated once at start, and every
problem is reported with the dotted key it belongs to, so an operator can fix the file
without reading code (the rules are :func:`linetrace.settings.load_settings`'s, the same
as central's).

This module only composes the sections: each stage keeps its own in a small settings
module that imports nothing heavy (``camera/settings.py``, ``vision/settings.py``,
``scanner/settings.py``, ``line/settings.py``, ``delivery/settings.py``; ``[mqtt]`` is
the shared :class:`~linetrace.broker.client.MqttSettings`), so loading and checking a
config needs neither OpenCV nor a decoder.
"""

from __future__ import annotations

from datetime import timezone
from enum import StrEnum
from pathlib import Path

from pydantic import Field, ValidationInfo, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from linetrace.broker.client import MqttSettings
from linetrace.broker.contract.topics import StationId
from linetrace.edge.camera.clock import parse_utc_offset
from linetrace.edge.camera.settings import CaptureConfig, SourceConfig
from linetrace.edge.delivery.settings import (
    DeliveryConfig,
    MetricsConfig,
    OutboxConfig,
    StatusConfig,
)
from linetrace.edge.line.settings import PackConfig
from linetrace.edge.scanner.settings import ScannerConfig
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.gs1 import valid_gln
from linetrace.settings import Section, SettingsModel, load_settings

__all__ = [
    "ENV_PREFIX",
    "EdgeConfig",
    "StationConfig",
    "StationRole",
    "default_client_id",
    "load_config",
]

ENV_PREFIX = "LINETRACE_EDGE_"


class StationRole(StrEnum):
    """Where on the line the station stands, which decides what its reads mean."""

    LABELLING = "labelling"
    PACKING = "packing"
    SHIPPING = "shipping"


class StationConfig(Section):
    """Who this station is: its topic address, its place in the supply chain, its clock."""

    site: str = Field(description="Site (factory) id: a topic level and part of the broker user.")
    line: str = Field(description="Production line id within the site.")
    station: str = Field(description="Station id within the line.")
    gln: str | None = Field(
        default=None,
        description="GS1 Global Location Number of the station's location (13 digits with a "
        "valid check digit), used as the read point in traceability events.",
    )
    role: StationRole = Field(
        default=StationRole.PACKING, description="labelling, packing or shipping."
    )
    utc_offset: str = Field(
        default="+00:00",
        description='The station\'s UTC offset as "+HH:MM" (e.g. "+07:00") or "Z"; every '
        "event time carries it.",
    )

    @field_validator("site", "line", "station")
    @classmethod
    def _id_part(cls, value: str, info: ValidationInfo) -> str:
        parts = {"site": "x", "line": "x", "station": "x", str(info.field_name): value}
        StationId(**parts)  # raises TopicError (a ValueError) naming the part and the rule
        return value

    @field_validator("gln")
    @classmethod
    def _valid_gln(cls, value: str | None) -> str | None:
        return valid_gln(value) if value is not None else None

    @field_validator("utc_offset")
    @classmethod
    def _valid_offset(cls, value: str) -> str:
        parse_utc_offset(value)  # raises ValueError saying the form it expects
        return value

    @property
    def id(self) -> StationId:
        return StationId(self.site, self.line, self.station)

    @property
    def tz(self) -> timezone:
        """The fixed offset as a tzinfo, for stamping times."""
        return parse_utc_offset(self.utc_offset)


class EdgeConfig(SettingsModel):
    """Everything one edge agent needs, validated at start."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    station: StationConfig = Field(description="This station's identity and clock.")
    source: SourceConfig = Field(description="Where frames come from.")
    pipeline: PipelineConfig = Field(
        default_factory=PipelineConfig,
        description="Decoding and tracking: how frames become item passages.",
    )
    capture: CaptureConfig = Field(
        default_factory=CaptureConfig,
        description="The capture process: its frame ring and how a failing source is retried.",
    )
    scanner: ScannerConfig = Field(
        default_factory=ScannerConfig, description="The decode worker processes."
    )
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings,
        description="The broker connection; the user defaults to the station's id "
        "SITE/LINE/STATION and the client id to linetrace-edge-SITE.LINE.STATION.",
    )
    outbox: OutboxConfig = Field(
        default_factory=OutboxConfig, description="The durable event store."
    )
    delivery: DeliveryConfig = Field(
        default_factory=DeliveryConfig,
        description="Resending what central has not confirmed.",
    )
    status: StatusConfig = Field(
        default_factory=StatusConfig, description="The retained status message."
    )
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="The Prometheus metrics endpoint."
    )
    pack: PackConfig = Field(
        default_factory=PackConfig,
        description="Packing and shipping stations: how codes seen with an SSCC become its "
        "children in a pack event.",
    )

    @model_validator(mode="after")
    def _station_defaults(self) -> EdgeConfig:
        """Fill the broker user and client id from the station, as provisioning names them."""
        station = self.station.id
        username = self.mqtt.username or station.username
        self.mqtt = self.mqtt.model_copy(
            update={
                "username": username,
                "client_id": self.mqtt.client_id or default_client_id(station),
            }
        )
        return self


def default_client_id(station: StationId) -> str:
    """The MQTT client id of a station's agent."""
    return f"linetrace-edge-{station.site}.{station.line}.{station.station}"


def load_config(path: Path | None) -> EdgeConfig:
    """Read ``path`` (TOML; None for the environment alone) and validate it.

    Raises :class:`~linetrace.errors.ConfigError` listing every problem by its key.
    """
    return load_settings(EdgeConfig, path)
