"""The edge agent's configuration: one TOML file per station, every key overridable.

Precedence, highest first: environment variables (``LINETRACE_EDGE_`` + the key path in
capitals with ``__`` between levels, e.g. ``LINETRACE_EDGE_MQTT__PASSWORD``), then the TOML
file, then the defaults here. Secrets belong in the environment (a systemd
``EnvironmentFile``), the rest in the file. Everything is validated once at start, and every
problem is reported with the dotted key it belongs to, so an operator can fix the file
without reading code.
"""

from __future__ import annotations

import os
import tomllib
from datetime import timezone
from enum import StrEnum
from pathlib import Path
from typing import Any

from biip import ParseError
from biip.gln import Gln
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    FilePath,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from linetrace.broker.contract.topics import StationId
from linetrace.edge.capture import CaptureConfig
from linetrace.edge.clock import parse_utc_offset
from linetrace.edge.pack import PackConfig
from linetrace.edge.pipeline import PipelineConfig

__all__ = [
    "ENV_PREFIX",
    "ConfigError",
    "DeliveryConfig",
    "EdgeConfig",
    "MetricsConfig",
    "MqttConfig",
    "OutboxConfig",
    "ScannerConfig",
    "SourceConfig",
    "StationConfig",
    "StationRole",
    "StatusConfig",
    "default_client_id",
    "load_config",
]

ENV_PREFIX = "LINETRACE_EDGE_"


class ConfigError(ValueError):
    """The configuration cannot be used; ``problems`` lists each one as ``key: why``."""

    def __init__(self, problems: list[str], origin: str = "configuration") -> None:
        super().__init__(f"{origin} is invalid:\n  " + "\n  ".join(problems))
        self.problems = problems


class StationRole(StrEnum):
    """Where on the line the station stands, which decides what its reads mean."""

    LABELLING = "labelling"
    PACKING = "packing"
    SHIPPING = "shipping"


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class StationConfig(_Section):
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
        if value is not None:
            try:
                Gln.parse(value)
            except ParseError as exc:
                raise ValueError(str(exc)) from None
        return value

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


class SourceConfig(_Section):
    """Where frames come from."""

    spec: str = Field(
        description="The frame source: a camera index, an RTSP URL, a video file, an image "
        "folder or a synthetic source (see `linetrace edge scan --help`)."
    )
    realtime: bool = Field(
        default=False,
        description="Pace a file source at its own frame rate instead of as fast as it decodes "
        "(live cameras are real time anyway).",
    )
    loop: bool = Field(
        default=False,
        description="Start a file source again when it ends (demo playback); otherwise the "
        "agent stops at its end.",
    )


class ScannerConfig(_Section):
    """How many processes decode."""

    workers: int | None = Field(
        default=None,
        ge=0,
        le=64,
        description="Decode worker processes; default one per core but one (capture's). "
        "0 decodes in the scanner's own thread (a one-core box).",
    )


class MqttConfig(_Section):
    """How to reach the broker."""

    host: str = Field(default="localhost", description="Broker host name or address.")
    port: int = Field(default=1883, ge=1, le=65535, description="Broker TCP port.")
    username: str | None = Field(
        default=None,
        description="Broker user; defaults to the station's id SITE/LINE/STATION "
        "(e.g. hcm1/L1/pack-1), the user that station provisioning creates.",
    )
    password: SecretStr | None = Field(
        default=None,
        description="Broker password; set it with LINETRACE_EDGE_MQTT__PASSWORD, not in the file.",
    )
    tls: bool = Field(
        default=False,
        description="Connect with TLS (verifying the broker against tls_ca_file, or the "
        "system's trusted certificates when that is unset).",
    )
    tls_ca_file: FilePath | None = Field(
        default=None, description="PEM file of the CA that signed the broker's certificate."
    )
    keepalive: int = Field(
        default=30,
        ge=5,
        le=3600,
        description="Seconds between keepalive pings: how soon a dead link is noticed "
        "(the broker gives up after 1.5 times this and publishes the station's last will).",
    )
    client_id: str | None = Field(
        default=None,
        description="MQTT client id; defaults to linetrace-edge-SITE.LINE.STATION. "
        "Two clients with one id disconnect each other, so keep it unique per station.",
    )

    @model_validator(mode="after")
    def _ca_needs_tls(self) -> MqttConfig:
        if self.tls_ca_file is not None and not self.tls:
            raise ValueError("tls_ca_file is set but tls is false; set tls = true to use it")
        return self


class OutboxConfig(_Section):
    """The durable store of events not yet confirmed delivered."""

    path: Path = Field(
        default=Path("state/edge-outbox.db"),
        description="SQLite file of the outbox (relative paths are from the working directory); "
        "put it on persistent storage.",
    )
    # 500 000 events of about 650 bytes on disk (a GS1 DataMatrix read, measured) is about
    # 330 MB, and at 20 items/s it is about 7 hours of line output with the broker away.
    capacity: int = Field(
        default=500_000,
        ge=1,
        description="Most events the outbox holds; past it new events are refused and counted "
        "as lost, so size it for the longest outage to ride out.",
    )
    # At 80 % of the default capacity about 1.4 hours of line output still fit: time for
    # someone to bring the broker or central back before events are lost.
    alarm_at: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Share of the capacity at which the outbox raises its alarm (a "
        "warning in the log, a flag in the status message and a metric).",
    )


class DeliveryConfig(_Section):
    """When events central has not confirmed are sent again."""

    # Central confirms within about a second and a restarting central within seconds
    # more, so a healthy line never resends; an event a broker lost (restarted empty,
    # dropped a full queue) still reaches central within half a minute.
    resend_timeout_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="Seconds an event the broker took may stay uncovered by central's "
        "ack watermark before it is sent again (same event_id; central drops duplicates).",
    )


class StatusConfig(_Section):
    """The retained status message on the station's status topic."""

    # Five seconds shows a stalled camera or a growing outbox on a dashboard within a few
    # seconds, and is 0.2 small messages per second per station: nothing to a broker.
    interval_s: float = Field(
        default=5.0,
        ge=1.0,
        le=300.0,
        description="Seconds between status messages (figures: fps, read rate, outbox, "
        "watermark, decode margin, ...); the broker keeps the latest.",
    )


class MetricsConfig(_Section):
    """The Prometheus endpoint (off unless a port is set)."""

    # Off by default: every figure reaches central in the status message anyway, a box
    # often runs one agent per camera (a fixed default port would collide on the second),
    # and opening a port is a decision for whoever runs the box.
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the Prometheus metrics endpoint (/metrics), e.g. 9108; "
        "unset: no endpoint.",
    )
    bind: str = Field(
        default="127.0.0.1",
        description="Address the endpoint listens on: 127.0.0.1 for a scraper on the same "
        "box; 0.0.0.0 (all interfaces) only on a trusted network.",
    )


class EdgeConfig(BaseSettings):
    """Everything one edge agent needs, validated at start."""

    model_config = SettingsConfigDict(
        extra="forbid",
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        case_sensitive=False,
    )

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
    mqtt: MqttConfig = Field(default_factory=MqttConfig, description="The broker connection.")
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

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as keyword arguments (see load_config); the environment
        # must override them, so it comes first. No .env file: systemd supplies the env.
        return (env_settings, init_settings)


def default_client_id(station: StationId) -> str:
    """The MQTT client id of a station's agent."""
    return f"linetrace-edge-{station.site}.{station.line}.{station.station}"


def load_config(path: Path | None) -> EdgeConfig:
    """Read ``path`` (TOML; None for the environment alone) and validate it.

    Raises :class:`ConfigError` listing every problem by its key.
    """
    origin = str(path) if path is not None else "the environment"
    document: dict[str, Any] = {}
    if path is not None:
        try:
            with path.open("rb") as file:
                document = tomllib.load(file)
        except OSError as exc:
            raise ConfigError([f"cannot read the file: {exc.strerror}"], origin) from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError([f"not valid TOML: {exc}"], origin) from None
    try:
        return EdgeConfig(**document)
    except ValidationError as exc:
        raise ConfigError(_problems(exc), f"{origin} (with {ENV_PREFIX}* overrides)") from None


def _problems(exc: ValidationError) -> list[str]:
    """``key: why`` for each error, naming the environment variable when one set the key."""
    environment = {name.upper() for name in os.environ}
    problems = []
    for error in exc.errors():
        path = [str(part) for part in error["loc"]]
        problem = f"{'.'.join(path) or '(top level)'}: {error['msg']}"
        for depth in range(len(path), 0, -1):
            variable = ENV_PREFIX + "__".join(path[:depth]).upper()
            if variable in environment:
                problem += f" (set by {variable})"
                break
        problems.append(problem)
    return problems
