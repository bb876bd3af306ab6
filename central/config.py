"""The central service's settings: one TOML file, every key overridable from the environment.

Settings are read once at start and refused as a whole when any key is wrong, with an
error that names the key (``mqtt.port``) and the environment variable that overrides it
(``LINETRACE_CENTRAL_MQTT__PORT``), so a typo fails the start instead of a night shift.
Precedence, highest first: environment, TOML file, defaults.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from pathlib import Path
from typing import Annotated

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

__all__ = [
    "ENV_PREFIX",
    "ApiSettings",
    "CentralSettings",
    "ConfigError",
    "DatabaseSettings",
    "IngestSettings",
    "MqttSettings",
    "load_settings",
]

ENV_PREFIX = "LINETRACE_CENTRAL_"
ENV_NESTED_DELIMITER = "__"

# The TOML file of the settings being loaded; a context variable rather than a class
# attribute so two loads in different threads (tests) cannot see each other's file.
_config_file: ContextVar[Path | None] = ContextVar("linetrace_central_config_file", default=None)

_Port = Annotated[int, Field(ge=1, le=65535)]


class ConfigError(ValueError):
    """The configuration is unusable; the message names every bad key."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class DatabaseSettings(_Section):
    """Where events are stored."""

    url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the database. Unset: an SQLite file central.db in "
        "state_dir (one central instance). Production: postgresql+psycopg://user@host/db.",
    )

    @field_validator("url")
    @classmethod
    def _parseable(cls, value: str | None) -> str | None:
        if value is None:
            return None
        # Imported here so that reading settings does not need SQLAlchemy at import time.
        from sqlalchemy.engine import make_url
        from sqlalchemy.exc import ArgumentError

        try:
            url = make_url(value)
        except ArgumentError as exc:
            raise ValueError(f"not a database URL: {exc}") from None
        if url.get_backend_name() not in {"sqlite", "postgresql"}:
            raise ValueError("only sqlite:// and postgresql+psycopg:// databases are supported")
        return value


class MqttSettings(_Section):
    """The broker central takes scan events from."""

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    port: _Port = Field(default=1883, description="Broker port (8883 is usual with TLS).")
    username: str | None = Field(
        default="central", description="Broker user of this central service."
    )
    password: SecretStr | None = Field(
        default=None, description="Broker password; prefer the environment variable to the file."
    )
    client_id: str = Field(
        default="linetrace-central",
        min_length=1,
        max_length=128,
        description="MQTT client id. Keep it stable across restarts so the broker hands back "
        "the messages it kept for this session; give every central instance its own.",
    )
    tls_ca: Path | None = Field(
        default=None, description="CA certificate file; set it to connect with TLS."
    )
    keepalive_s: int = Field(
        # A minute is paho's default: a dead TCP link is noticed within 1.5 minutes while
        # an idle service sends one small packet a minute.
        default=60,
        ge=5,
        le=3600,
        description="Seconds between keepalive pings; a silent broker is declared lost "
        "after 1.5 times this.",
    )
    session_expiry_s: int = Field(
        # An hour covers a restart, an upgrade or a short outage of central; events older
        # than that are still safe in the edges' outboxes and are resent from there.
        default=3600,
        ge=0,
        description="How long the broker keeps this client's session and queued events "
        "while central is away.",
    )

    @field_validator("tls_ca")
    @classmethod
    def _readable(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"CA file {value} does not exist")
        return value


class IngestSettings(_Section):
    """How received events are batched into the database."""

    batch_size: int = Field(
        # One commit per 500 events makes the commit and per-batch work (progress, checks)
        # small per event: central's CPU per event fell from ~175 to ~150 us against 200
        # (bench/central_ingest.py). A batch still closes after flush_interval_ms at low rates.
        default=500,
        ge=1,
        le=10_000,
        description="Most events written in one transaction.",
    )
    flush_interval_ms: int = Field(
        # 20 ms is far below what an operator notices and what the edges' resend timers
        # wait, yet lets a burst of a few hundred events share one commit.
        default=20,
        ge=1,
        le=5_000,
        description="Longest a received event waits for its batch to fill before it is written.",
    )
    max_in_flight: int = Field(
        # Sent to the broker as MQTT v5 Receive Maximum: the broker stops sending when this
        # many events are unacknowledged, which bounds the in-memory queue (Mosquitto 2.0.11
        # overshoots it; see the ingest module). Five batches keep the writer busy while
        # the broker refills.
        default=1000,
        ge=1,
        le=65535,
        description="Most received but not yet committed events (MQTT Receive Maximum).",
    )
    auto_register_stations: bool = Field(
        # Off: a production site keeps one deliberate step between a broker account and
        # records under a new station id, so a mistyped id shows up as dead letters (which
        # a replay takes in once registered) instead of as a new station. The broker's ACL
        # already authenticates every station, so small sites may turn it on.
        default=False,
        description="Register a station on its first event instead of dead-lettering "
        "events from stations not registered (disabled stations stay refused).",
    )
    seq_gap_alarm_after_s: int = Field(
        # An edge reconnects within 30 s of backoff and resends its outbox at once, and
        # out-of-order commits close within a batch interval; a gap open for a minute
        # means an event is missing, not late.
        default=60,
        ge=1,
        le=86_400,
        description="Seconds a gap in a station's seq may stay open before a seq_gap "
        "alarm is raised.",
    )

    seq_reuse_alarm_clear_after_s: int = Field(
        # A reused seq is a fault only a person fixes (an edge's outbox was wiped, or two
        # edges share a station id); a quarter of an hour without a new clash shows that
        # the edge's seqs have passed the old ones, or that the shared id was fixed, and
        # is long enough for a shift to see the alarm on the live page before it clears.
        default=900,
        ge=60,
        le=7 * 86_400,
        description="Seconds without a new reused seq after which a station's seq_reused "
        "alarm clears itself.",
    )
    dead_letter_alarm_threshold: int = Field(
        # A station mistyped or not yet registered refuses every event, at line speed a
        # few per second; single refusals (a malformed label text, a resend racing a
        # disable) stay far below 20 in five minutes.
        default=20,
        ge=1,
        le=1_000_000,
        description="Dead letters from one source (a station topic, or any other topic) "
        "within dead_letter_alarm_window_s that raise a dead_letters alarm.",
    )
    dead_letter_alarm_window_s: int = Field(
        # Five minutes smooths a short burst into one alarm, and clears the alarm five
        # minutes after the last refusal, once the cause is fixed.
        default=300,
        ge=10,
        le=86_400,
        description="Seconds over which dead letters are counted for the dead_letters "
        "alarm; it clears once a whole window passes without one from that source.",
    )

    @model_validator(mode="after")
    def _batch_fits_in_flight(self) -> IngestSettings:
        if self.batch_size > self.max_in_flight:
            raise ValueError(
                f"batch_size {self.batch_size} exceeds max_in_flight {self.max_in_flight}: "
                "the broker would never send enough events to fill a batch"
            )
        return self


class ApiSettings(_Section):
    """The HTTP API."""

    host: str = Field(
        default="127.0.0.1",
        description="Address the API binds to. Localhost until accounts and roles exist: "
        "the API has no authentication yet.",
    )
    port: _Port = Field(default=8080, description="TCP port of the API.")


class CentralSettings(BaseSettings):
    """Everything the central service reads at start."""

    model_config = SettingsConfigDict(
        extra="forbid",
        frozen=True,
        env_prefix=ENV_PREFIX,
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
    )

    state_dir: Path = Field(
        default=Path("state/central"),
        description="Folder for the service's own files (the default SQLite database).",
    )
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="Where events are stored."
    )
    mqtt: MqttSettings = Field(
        default_factory=MqttSettings, description="The broker central takes events from."
    )
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="How events are batched into the database."
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="The HTTP API.")

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file in ``state_dir``."""
        return self.database.url or f"sqlite:///{self.state_dir / 'central.db'}"

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        config_file = _config_file.get()
        if config_file is not None:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=config_file))
        return tuple(sources)


def load_settings(config_file: Path | None = None) -> CentralSettings:
    """Read the TOML file (if any) and the environment; raise :class:`ConfigError` naming keys."""
    if config_file is not None:
        _check_toml(config_file)
    unknown = _unknown_environment(os.environ)
    if unknown:
        raise ConfigError(
            "unknown central configuration keys in the environment: " + ", ".join(unknown)
        )
    token = _config_file.set(config_file)
    try:
        return CentralSettings()
    except ValidationError as exc:
        raise ConfigError(_describe(exc, config_file)) from None
    finally:
        _config_file.reset(token)


def _unknown_environment(environ: Mapping[str, str]) -> list[str]:
    """Prefixed variables that name no key: pydantic-settings would silently ignore them."""
    unknown = []
    for name in environ:
        if not name.upper().startswith(ENV_PREFIX):
            continue
        path = name[len(ENV_PREFIX) :].lower().split(ENV_NESTED_DELIMITER)
        if not _names_a_key(CentralSettings, path):
            unknown.append(name)
    return sorted(unknown)


def _names_a_key(model: type[BaseModel], path: list[str]) -> bool:
    field = model.model_fields.get(path[0])
    if field is None:
        return False
    if len(path) == 1:
        return True
    section = field.annotation
    return (
        isinstance(section, type)
        and issubclass(section, BaseModel)
        and _names_a_key(section, path[1:])
    )


def _check_toml(path: Path) -> None:
    """Fail with the file's name and position, before pydantic-settings reads it."""
    try:
        with path.open("rb") as handle:
            tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"config file {path} is not valid TOML: {exc}") from None


def _describe(exc: ValidationError, config_file: Path | None) -> str:
    where = f"config file {config_file}" if config_file else "defaults"
    lines = [f"invalid central configuration ({where} and {ENV_PREFIX}* environment):"]
    for error in exc.errors():
        key = ".".join(str(part) for part in error["loc"])
        env = ENV_PREFIX + ENV_NESTED_DELIMITER.join(str(p) for p in error["loc"]).upper()
        hint = f" (environment: {env})" if error["loc"] else ""
        lines.append(f"  {key or 'settings'}: {error['msg']}{hint}")
    return "\n".join(lines)
