"""Several cameras on one box: one config file with ``[[cameras]]``, one station per camera.

Each camera is a station of its own: its own station id, ``seq``, outbox, broker account
and retained status, exactly as if it ran alone. The contract numbers events per station
with one gapless ``seq`` and central keys reads, watermarks and progress by station, so
two cameras under one id would need one sequence shared across threads and would make
their reads indistinguishable in a trace; and the broker binds the client id to the
account, one connection per account, so two agents on one account would throw each
other off. What the cameras share is the box: the ``[pipeline]``, ``[capture]``,
``[scanner]`` (one decode pool for every camera), ``[delivery]``, ``[status]``, ``[pack]``
sections, the broker address in ``[mqtt]``, and the site, line, role and UTC offset in
``[station]``. Each ``[[cameras]]`` entry names its station and source and has its own
outbox, and may set its own role, GLN, line, broker login and metrics port::

    [station]
    site = "hcm1"
    line = "L1"
    utc_offset = "+07:00"

    [[cameras]]
    station = "pack-1"
    source = { spec = "rtsp://camera-1/stream1", realtime = true }
    outbox = { path = "/var/lib/linetrace/edge-pack-1/outbox.sqlite" }

A camera's secrets come from the environment by its position in the file, counted from
0: ``LINETRACE_EDGE_CAMERAS__0__MQTT__PASSWORD``. A file without ``[[cameras]]`` is the
one-station config of :mod:`linetrace.edge.config`, unchanged. Like that module, this one
imports nothing heavy.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from linetrace.broker.client import MqttSettings
from linetrace.edge.camera.clock import parse_utc_offset
from linetrace.edge.camera.settings import CaptureConfig, SourceConfig
from linetrace.edge.config import (
    ENV_PREFIX,
    EdgeConfig,
    StationConfig,
    StationRole,
    default_client_id,
    load_config,
)
from linetrace.edge.delivery.settings import (
    DeliveryConfig,
    MetricsConfig,
    OutboxConfig,
    StatusConfig,
)
from linetrace.edge.line.settings import PackConfig
from linetrace.edge.scanner.settings import ScannerConfig
from linetrace.edge.vision.settings import PipelineConfig
from linetrace.settings import Section, SettingsModel, load_settings

__all__ = ["BoxConfig", "CameraConfig", "has_cameras", "load_stations"]


class BoxStation(Section):
    """What every camera's station shares: where the box stands, and its clock."""

    site: str = Field(description="Site (factory) id.")
    line: str = Field(description="Production line id; a camera may name another.")
    role: StationRole = Field(
        default=StationRole.PACKING,
        description="labelling, packing or shipping; a camera may set its own.",
    )
    utc_offset: str = Field(
        default="+00:00", description='The box\'s UTC offset as "+HH:MM" or "Z".'
    )

    @field_validator("utc_offset")
    @classmethod
    def _valid_offset(cls, value: str) -> str:
        parse_utc_offset(value)
        return value


class CameraLogin(Section):
    """A camera's broker login: its station's own account."""

    username: str | None = Field(
        default=None, description="Broker user; defaults to the station id SITE/LINE/STATION."
    )
    password: SecretStr | None = Field(
        default=None,
        description="Broker password; set it in the environment "
        "(LINETRACE_EDGE_CAMERAS__<n>__MQTT__PASSWORD), not the file.",
    )
    client_id: str | None = Field(
        default=None, min_length=1, max_length=128, description="MQTT client id."
    )


class CameraConfig(Section):
    """One camera: a station of its own."""

    station: str = Field(description="Station id within the line.")
    line: str | None = Field(default=None, description="The line, if not [station].line.")
    role: StationRole | None = Field(default=None, description="The role, if not [station]'s.")
    gln: str | None = Field(default=None, description="The station's GS1 location number.")
    source: SourceConfig = Field(description="Where this camera's frames come from.")
    outbox: OutboxConfig = Field(description="This station's own outbox (its own path).")
    mqtt: CameraLogin = Field(default_factory=CameraLogin, description="This station's login.")
    metrics: MetricsConfig = Field(
        default_factory=MetricsConfig, description="This station's Prometheus endpoint."
    )


class BoxConfig(SettingsModel):
    """A box with several cameras: shared sections, and one ``[[cameras]]`` entry each."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX)

    station: BoxStation = Field(description="What every camera's station shares.")
    cameras: list[CameraConfig] = Field(min_length=1, description="One entry per camera.")
    pipeline: PipelineConfig = Field(default_factory=PipelineConfig)
    capture: CaptureConfig = Field(default_factory=CaptureConfig)
    scanner: ScannerConfig = Field(
        default_factory=ScannerConfig, description="The one decode pool every camera shares."
    )
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings,
        description="The broker; username and client_id are per camera.",
    )
    delivery: DeliveryConfig = Field(default_factory=DeliveryConfig)
    status: StatusConfig = Field(default_factory=StatusConfig)
    pack: PackConfig = Field(default_factory=PackConfig)

    @model_validator(mode="after")
    def _one_station_per_camera(self) -> BoxConfig:
        if self.mqtt.username is not None or self.mqtt.client_id is not None:
            raise ValueError(
                "mqtt.username and mqtt.client_id are per camera ([[cameras]] mqtt): each "
                "camera logs in as its own station"
            )
        stations = self.stations()  # raises ValueError naming the camera
        _refuse_repeats("station id", (str(s.station.id) for s in stations))
        _refuse_repeats("outbox path", (str(s.outbox.path.resolve()) for s in stations))
        _refuse_repeats("broker user", (s.mqtt.username or "" for s in stations))
        _refuse_repeats("client id", (s.mqtt.client_id or "" for s in stations))
        ports = (str(s.metrics.port) for s in stations if s.metrics.port is not None)
        _refuse_repeats("metrics port", ports)
        return self

    def stations(self) -> list[EdgeConfig]:
        """One station's config per camera, as :func:`~linetrace.edge.agent.run_agent` takes."""
        return [self._station(index, camera) for index, camera in enumerate(self.cameras)]

    def _station(self, index: int, camera: CameraConfig) -> EdgeConfig:
        shared = self.station
        try:
            station = StationConfig(
                site=shared.site,
                line=camera.line or shared.line,
                station=camera.station,
                role=camera.role or shared.role,
                gln=camera.gln,
                utc_offset=shared.utc_offset,
            )
        except ValidationError as exc:
            reasons = "; ".join(str(error["msg"]) for error in exc.errors())
            raise ValueError(f"cameras.{index}.station: {reasons}") from None
        station_id = station.id
        mqtt = self.mqtt.model_copy(
            update={
                "username": camera.mqtt.username or station_id.username,
                "password": camera.mqtt.password or self.mqtt.password,
                "client_id": camera.mqtt.client_id or default_client_id(station_id),
            }
        )
        # Every section is validated already; constructing skips the environment, which
        # applied to the shared sections once and must not override a camera's own.
        return EdgeConfig.model_construct(
            station=station,
            source=camera.source,
            pipeline=self.pipeline,
            capture=self.capture,
            scanner=self.scanner,
            mqtt=mqtt,
            outbox=camera.outbox,
            delivery=self.delivery,
            status=self.status,
            metrics=camera.metrics,
            pack=self.pack,
        )


def _refuse_repeats(what: str, values: Iterable[str]) -> None:
    repeated = sorted(value for value, count in Counter(values).items() if count > 1)
    if repeated:
        raise ValueError(f"each camera needs its own {what}; repeated: {', '.join(repeated)}")


def load_stations(path: Path | None) -> tuple[list[EdgeConfig], ScannerConfig | None]:
    """The stations ``path`` configures, and the shared decode pool's settings.

    A file with ``[[cameras]]`` gives one station per camera and its ``[scanner]``; any
    other gives its one station and None (the agent keeps its own pool, as before).
    Raises :class:`~linetrace.errors.ConfigError` listing every problem by its key.
    """
    if path is None or not has_cameras(path):
        return [load_config(path)], None
    box = load_settings(BoxConfig, path)
    return box.stations(), box.scanner


def has_cameras(path: Path) -> bool:
    """Whether the file at ``path`` lists ``[[cameras]]`` (a box, not one station)."""
    try:
        with path.open("rb") as file:
            return "cameras" in tomllib.load(file)
    except (OSError, tomllib.TOMLDecodeError):
        return False  # load_config reports it
