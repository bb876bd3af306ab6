"""Loading a process's settings: one TOML file, every key overridable from the environment.

Edge agents and central load their settings the same way, so an operator learns one rule:
precedence, highest first, is the environment (the process's prefix, then the key path in
capitals with ``__`` between levels, e.g. ``LINETRACE_EDGE_MQTT__PASSWORD``), the TOML
file, then the defaults. Secrets belong in the environment (a systemd ``EnvironmentFile``),
the rest in the file. Everything is validated once at start and refused as a whole, with
each problem reported under its dotted key and the variable that set it, so a typo fails
the start instead of a night shift. A prefixed variable that names no key is refused too:
pydantic-settings would silently ignore it, and a mistyped override must not pass unseen.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar, TypeVar

from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from linetrace.errors import ConfigError

__all__ = ["ENV_NESTED_DELIMITER", "Section", "SettingsModel", "load_settings"]

ENV_NESTED_DELIMITER = "__"

SettingsT = TypeVar("SettingsT", bound="SettingsModel")


class Section(BaseModel):
    """One ``[section]`` of a settings file: unknown keys are errors, not silence."""

    model_config = ConfigDict(extra="forbid")


class SettingsModel(BaseSettings):
    """The top of one process's settings; subclasses set ``env_prefix`` in ``model_config``."""

    model_config: ClassVar[SettingsConfigDict] = SettingsConfigDict(
        extra="forbid",
        env_nested_delimiter=ENV_NESTED_DELIMITER,
        case_sensitive=False,
    )

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The file's values arrive as keyword arguments (see load_settings); the
        # environment must override them, so it comes first. No .env file: systemd
        # supplies the environment.
        return (env_settings, init_settings)

    @classmethod
    def env_prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", "")).upper()


def load_settings(model: type[SettingsT], path: Path | None) -> SettingsT:
    """Read ``path`` (TOML; None for the environment alone) and the environment, validated.

    Raises :class:`ConfigError` listing every problem by its key.
    """
    environ = os.environ
    prefix = model.env_prefix()
    origin = str(path) if path is not None else "the environment"
    document = _read_toml(path, origin) if path is not None else {}
    unknown = [f"{name}: names no setting" for name in _unknown_variables(model, prefix, environ)]
    if unknown:
        raise ConfigError(unknown, f"{origin} (with {prefix}* overrides)")
    try:
        return model(**document)
    except ValidationError as exc:
        problems = _problems(exc, prefix, environ)
        raise ConfigError(problems, f"{origin} (with {prefix}* overrides)") from None


def _read_toml(path: Path, origin: str) -> dict[str, Any]:
    try:
        with path.open("rb") as file:
            return tomllib.load(file)
    except OSError as exc:
        raise ConfigError([f"cannot read the file: {exc.strerror}"], origin) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"not valid TOML: {exc}"], origin) from None


def _unknown_variables(
    model: type[BaseModel], prefix: str, environ: Mapping[str, str]
) -> list[str]:
    unknown = []
    for name in environ:
        if not name.upper().startswith(prefix):
            continue
        path = name[len(prefix) :].lower().split(ENV_NESTED_DELIMITER)
        if not _names_a_key(model, path):
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


def _problems(exc: ValidationError, prefix: str, environ: Mapping[str, str]) -> list[str]:
    """``key: why`` for each error, naming the environment variable when one set the key."""
    environment = {name.upper() for name in environ}
    problems = []
    for error in exc.errors():
        path = [str(part) for part in error["loc"]]
        problem = f"{'.'.join(path) or '(top level)'}: {error['msg']}"
        for depth in range(len(path), 0, -1):
            variable = prefix + ENV_NESTED_DELIMITER.join(path[:depth]).upper()
            if variable in environment:
                problem += f" (set by {variable})"
                break
        problems.append(problem)
    return problems
