"""The central service's settings: one TOML file, every key overridable from the environment.

Loaded by :func:`linetrace.settings.load_settings`, the same loader as the edge's: the
settings are read once at start and refused as a whole when any key is wrong, with a
:class:`~linetrace.errors.ConfigError` that names the key (``mqtt.port``) and the
environment variable that set it (``LINETRACE_CENTRAL_MQTT__PORT``), so a typo fails
the start instead of a night shift. Precedence, highest first: environment, TOML file,
defaults.
"""

from __future__ import annotations

import ipaddress
import re
from pathlib import Path
from typing import Annotated, Literal
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import ConfigDict, Field, field_validator, model_validator
from pydantic_settings import SettingsConfigDict

from linetrace.broker.client import MqttSettings
from linetrace.central.auth.settings import AuthSettings
from linetrace.central.relay.settings import RelaySettings
from linetrace.settings import Section, SettingsModel
from linetrace.settings import load_settings as load_process_settings

__all__ = [
    "ENV_PREFIX",
    "ApiSettings",
    "CentralMqttSettings",
    "CentralSettings",
    "DatabaseSettings",
    "ImagesSettings",
    "IngestSettings",
    "SiteSettings",
    "WebSettings",
    "load_settings",
]

ENV_PREFIX = "LINETRACE_CENTRAL_"

_Port = Annotated[int, Field(ge=1, le=65535)]


class _Section(Section):
    model_config = ConfigDict(frozen=True)


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


class CentralMqttSettings(MqttSettings):
    """The broker central takes scan events from: the shared keys, with central's defaults."""

    model_config = ConfigDict(frozen=True)

    host: str = Field(default="127.0.0.1", description="Broker host name or address.")
    username: str | None = Field(
        default="central", description="Broker user of this central service."
    )
    client_id: str = Field(  # central always has one
        default="linetrace-central",
        min_length=1,
        max_length=128,
        description="MQTT client id. Keep it stable across restarts so the broker hands back "
        "the messages it kept for this session; give every central instance its own. The "
        "project's Mosquitto uses the account name instead, so there each replica needs "
        "its own account.",
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
        # A minute covers a restart of central (seconds), so the broker keeps what arrives
        # meanwhile. It is also how long a replica that crashed, was retired or renamed
        # keeps its place in the shared subscription, taking a share of every station's
        # events: a minute is one seq_gap_alarm_after_s, where an hour meant an hour of
        # gaps. Nothing is lost past it: the edges resend what central has not
        # acknowledged (delivery.resend_timeout_s). `linetrace broker sessions remove`
        # ends a retired replica's session at once.
        default=60,
        ge=0,
        description="How long the broker keeps this client's session and queued events "
        "while central is away.",
    )


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


# A DNS name of letters, digits and hyphens, optionally under a leading "*." wildcard.
_HOST_NAME = re.compile(
    r"(\*\.)?([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)(\.[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?)*",
    re.IGNORECASE,
)


_ORIGIN = re.compile(r"https?://[^/\s:*]+(:\d{1,5})?", re.IGNORECASE)


def _host_pattern(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return len(name) <= 253 and _HOST_NAME.fullmatch(name) is not None
    return True


class ApiSettings(_Section):
    """The HTTP API."""

    host: str = Field(
        default="127.0.0.1",
        description="Address the API and the pages bind to (0.0.0.0: every interface). "
        "Every endpoint but /healthz and /metrics needs a signed-in person or a token; put "
        "TLS in front (a reverse proxy) before exposing it beyond the plant network.",
    )
    port: _Port = Field(default=8080, description="TCP port of the API.")
    allowed_hosts: tuple[str, ...] = Field(
        # A browser on the central host sends the attacker's name in Host when a page of
        # theirs is rebound to this address (DNS rebinding): refusing names we do not serve
        # under keeps such a page from driving the API. Loopback names cannot be rebound.
        default=(),
        description="Host names (or addresses) the API answers to besides localhost, "
        "127.0.0.1, ::1 and api.host, which are always allowed; '*.example.com' allows "
        "the subdomains. Any other Host header gets 400.",
    )

    cors_origins: tuple[str, ...] = Field(
        # Closed by default: no other site's page may read an answer. An integration's web
        # page on another origin is listed here; it must use a bearer token (a session
        # cookie never crosses sites: SameSite=Strict, and the cross-origin check refuses it).
        default=(),
        description="Origins (scheme://host[:port]) whose pages may call the API with a "
        "bearer token (CORS). Empty: none.",
    )

    @field_validator("cors_origins")
    @classmethod
    def _origins(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for origin in value:
            if _ORIGIN.fullmatch(origin) is None or not _host_pattern(
                urlsplit(origin).hostname or ""
            ):
                raise ValueError(
                    f"{origin!r} is not an origin such as 'https://erp.example.com' (scheme, "
                    "host and optional port; no path, no '*')"
                )
        return tuple(origin.lower() for origin in value)

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for name in value:
            if not _host_pattern(name):
                raise ValueError(
                    f"{name!r} is not a host name, an IP address or '*.domain' (no scheme, "
                    "no port; '*' alone would let any page drive the API)"
                )
        return tuple(name.lower() for name in value)


def _known_time_zone(name: str) -> str:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"{name!r} is not an IANA time zone such as 'Asia/Ho_Chi_Minh'") from None
    return name


class SiteSettings(_Section):
    """One site as people see it: its name, its clock and its language."""

    name: str | None = Field(
        default=None, max_length=200, description="Name shown on the pages (default: its id)."
    )
    time_zone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="IANA time zone the site's times are shown in, with the offset.",
    )
    language: Literal["vi", "en"] = Field(
        default="vi", description="Language of the pages for people with no choice of their own."
    )

    @field_validator("time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_time_zone(value)


class WebSettings(_Section):
    """The operators' and auditors' pages."""

    default_language: Literal["vi", "en"] = Field(
        # A plant in Vietnam: Vietnamese unless a site or a person says otherwise.
        default="vi",
        description="Language of the pages where neither the person nor the site chose one.",
    )
    default_time_zone: str = Field(
        default="Asia/Ho_Chi_Minh",
        description="Time zone for times not tied to a configured site.",
    )

    @field_validator("default_time_zone")
    @classmethod
    def _zone(cls, value: str) -> str:
        return _known_time_zone(value)


class ImagesSettings(_Section):
    """How long no-read pictures are kept: by age and by total size, oldest deleted first."""

    keep_days: int = Field(
        # A month covers the review of a shift's no-reads and a label supplier's complaint;
        # the event itself, with the picture's SHA-256, is kept as long as any event.
        default=30,
        ge=1,
        le=3650,
        description="Days a no-read picture is kept after central received it.",
    )
    max_total_mb: int = Field(
        # At the contract's 36 KiB at most per picture, 2 GiB holds over 58,000 of them
        # (a month of a no-read every 45 s); typical crops are a few KiB.
        default=2048,
        ge=1,
        le=10_000_000,
        description="Most megabytes (MiB) of JPEG kept in all; past it the oldest go first.",
    )
    prune_interval_s: int = Field(
        default=3600,
        ge=60,
        le=86_400,
        description="Seconds between prunes while `linetrace central run` runs.",
    )


class CentralSettings(SettingsModel):
    """Everything the central service reads at start."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, frozen=True)

    state_dir: Path = Field(
        default=Path("state/central"),
        description="Folder for the service's own files (the default SQLite database).",
    )
    database: DatabaseSettings = Field(
        default_factory=DatabaseSettings, description="Where events are stored."
    )
    mqtt: CentralMqttSettings = Field(
        default_factory=CentralMqttSettings, description="The broker central takes events from."
    )
    ingest: IngestSettings = Field(
        default_factory=IngestSettings, description="How events are batched into the database."
    )
    api: ApiSettings = Field(default_factory=ApiSettings, description="The HTTP API.")
    relay: RelaySettings = Field(
        default_factory=RelaySettings, description="Sending stored events on to portals."
    )
    sites: dict[str, SiteSettings] = Field(
        default_factory=dict,
        description="Per site id ([sites.hcm1]): its name, time zone and language.",
    )
    web: WebSettings = Field(
        default_factory=WebSettings, description="The operators' and auditors' pages."
    )
    images: ImagesSettings = Field(
        default_factory=ImagesSettings, description="How long no-read pictures are kept."
    )
    auth: AuthSettings = Field(
        default_factory=AuthSettings, description="Page sessions and the login rate limit."
    )

    @property
    def database_url(self) -> str:
        """The configured URL, or the SQLite file in ``state_dir``."""
        return self.database.url or f"sqlite:///{self.state_dir / 'central.db'}"


def load_settings(config_file: Path | None = None) -> CentralSettings:
    """Read the TOML file (if any) and the environment; raise :class:`ConfigError` naming keys."""
    return load_process_settings(CentralSettings, config_file)
