"""The ``[relay]`` section of central's settings and its ``[[relay.targets]]``.

Each target names an adapter ``kind`` (``epcis``, ``vn-portal``, ...: see
:mod:`linetrace.central.relay.targets`), where it is and how to authenticate. Secrets are
never in the file: a target names the environment variable that holds its password,
token or client secret (``secret_env``), the loader reads it at start and refuses to
start when it is unset, naming the key, like every other bad setting.
"""

from __future__ import annotations

import os
import re
from typing import Literal

from pydantic import ConfigDict, Field, PrivateAttr, SecretStr, field_validator, model_validator

from linetrace.settings import Section

__all__ = ["RelaySettings", "TargetSettings"]

_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_OptionValue = str | int | float | bool


class _Section(Section):
    model_config = ConfigDict(frozen=True)


class TargetSettings(_Section):
    """One place events are relayed to."""

    name: str = Field(
        description="Short name of the target (queue rows, status and logs use it); "
        "lower case letters, digits, - and _."
    )
    kind: str = Field(description="The adapter: epcis (GS1 EPCIS 2.0 capture) or vn-portal.")
    url: str = Field(description="Base URL; for epcis the capture interface is url + /capture.")
    enabled: bool = Field(
        default=True,
        description="Off: events are still queued for the target but not sent, so turning "
        "it back on sends everything that accumulated.",
    )
    auth: Literal["none", "basic", "bearer", "oauth2"] = Field(
        default="none",
        description="none, basic (username + password), bearer (a fixed token) or oauth2 "
        "(client credentials, vn-portal: username is the client id).",
    )
    username: str | None = Field(default=None, description="User (basic) or client id (oauth2).")
    secret_env: str | None = Field(
        default=None,
        description="Name of the environment variable holding the password, token or "
        "client secret; required unless auth is none.",
    )
    timeout_s: float = Field(
        # A capture of 100 events validates and stores in well under a second on a real
        # repository; 30 s rides out a slow one without holding a claim for minutes.
        default=30.0,
        gt=0,
        le=600,
        description="Seconds to wait for the target to answer one request.",
    )
    concurrency: int = Field(
        # Four documents in flight keep a local repository busy while one waits on its
        # job; a remote one over HTTPS gains more from it than it costs.
        default=4,
        ge=1,
        le=64,
        description="Documents sent to the target at once.",
    )
    max_events: int | None = Field(
        default=None,
        ge=1,
        description="Cap on events per document, below what the target advertises.",
    )
    max_bytes: int | None = Field(
        default=None,
        ge=1024,
        description="Cap on bytes per document, below what the target advertises.",
    )
    options: dict[str, _OptionValue] = Field(
        default_factory=dict,
        description="The adapter's own keys (e.g. vn-portal's token_url, field names).",
    )
    _secret: SecretStr | None = PrivateAttr(default=None)

    @field_validator("name")
    @classmethod
    def _name_form(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError("use 1-64 lower case letters, digits, - and _")
        return value

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("the target's URL must start with http:// or https://")
        return value.rstrip("/")

    @field_validator("kind")
    @classmethod
    def _known_kind(cls, value: str) -> str:
        from linetrace.central.relay.targets import TARGET_KINDS

        if value not in TARGET_KINDS:
            raise ValueError(f"unknown kind {value!r}; known: {', '.join(sorted(TARGET_KINDS))}")
        return value

    @field_validator("secret_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        if value is not None and not _ENV_NAME.match(value):
            raise ValueError("not an environment variable name")
        return value

    @model_validator(mode="after")
    def _read_secret(self) -> TargetSettings:
        if self.auth == "none":
            return self
        if self.auth in {"basic", "oauth2"} and not self.username:
            raise ValueError(f"auth {self.auth} needs a username")
        if self.secret_env is None:
            raise ValueError(f"auth {self.auth} needs secret_env, the variable holding the secret")
        value = os.environ.get(self.secret_env)
        if not value:
            raise ValueError(f"the environment variable {self.secret_env} is not set")
        self._secret = SecretStr(value)
        return self

    def secret(self) -> str | None:
        """The password, token or client secret read from ``secret_env`` at start."""
        return self._secret.get_secret_value() if self._secret is not None else None


class RelaySettings(_Section):
    """Sending stored events on to the configured targets."""

    run: bool = Field(
        default=True,
        description="Run the relay worker inside linetrace central run when targets are "
        "configured; off for an instance that only ingests (run it alone with "
        "linetrace central relay run).",
    )
    targets: list[TargetSettings] = Field(
        default_factory=list, description="Where events go; events are queued for each."
    )
    lease_s: float = Field(
        # Longer than a delivery can take (the HTTP timeout times the tries of one
        # document, plus a job's polling), so a live worker never loses its claim; short
        # enough that a killed one's events move on within a couple of minutes.
        default=120.0,
        ge=1.0,
        le=3600.0,
        description="Seconds a worker's claim on events lasts; a killed worker's claims "
        "lapse after this and another sends them.",
    )
    poll_interval_ms: int = Field(
        # An idle worker looks for new events five times a second: the event-to-accepted
        # lag stays far under its 5 s goal, and one indexed query per target per 200 ms
        # is nothing for the database.
        default=200,
        ge=10,
        le=60_000,
        description="How often an idle worker looks for events to send.",
    )
    retry_initial_s: float = Field(
        # Most faults (a restart, a blip) pass within seconds.
        default=1.0,
        gt=0,
        le=3600,
        description="First pause before an event that failed is sent again (doubling).",
    )
    retry_max_s: float = Field(
        # Five minutes: a target down for hours is tried 12 times an hour, and one that
        # comes back is caught up within minutes.
        default=300.0,
        gt=0,
        le=86_400,
        description="Longest pause between tries of an event; nothing is ever dropped.",
    )
    breaker_failures: int = Field(
        # Five sends in a row failing is a target that is down, not one bad request.
        default=5,
        ge=1,
        le=1000,
        description="Consecutive failed sends that open a target's circuit breaker.",
    )
    breaker_open_s: float = Field(
        # Ten seconds, doubling up to retry_max_s while the probes keep failing.
        default=10.0,
        gt=0,
        le=86_400,
        description="How long an open breaker waits before one probe send (half-open).",
    )

    @model_validator(mode="after")
    def _distinct_names(self) -> RelaySettings:
        names = [target.name for target in self.targets]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"target names must be distinct: {', '.join(duplicates)}")
        if self.retry_initial_s > self.retry_max_s:
            raise ValueError("retry_initial_s exceeds retry_max_s")
        return self

    def target(self, name: str) -> TargetSettings:
        """The target called ``name``; KeyError if none is."""
        for target in self.targets:
            if target.name == name:
                return target
        raise KeyError(name)
