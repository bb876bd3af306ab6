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
from typing import Any, ClassVar, TypeVar, get_args, get_origin

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
        # supplies the environment. Variables inside an array of tables are written into
        # the file's entries by load_settings; pydantic-settings would replace the array.
        return (_WithoutLists(settings_cls, env_settings), init_settings)

    @classmethod
    def env_prefix(cls) -> str:
        return str(cls.model_config.get("env_prefix", "")).upper()


class _WithoutLists(PydanticBaseSettingsSource):
    """An environment source that leaves ``list[Section]`` fields to the file's document."""

    def __init__(self, settings_cls: type[BaseSettings], inner: PydanticBaseSettingsSource):
        super().__init__(settings_cls)
        self._inner = inner

    def get_field_value(self, field: Any, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        values = self._inner()
        fields = self.settings_cls.model_fields
        return {
            name: value
            for name, value in values.items()
            if name not in fields or _list_entry_model(fields[name].annotation) is None
        }


def load_settings(model: type[SettingsT], path: Path | None) -> SettingsT:
    """Read ``path`` (TOML; None for the environment alone) and the environment, validated.

    Raises :class:`ConfigError` listing every problem by its key.
    """
    environ = os.environ
    prefix = model.env_prefix()
    origin = str(path) if path is not None else "the environment"
    document = _read_toml(path, origin) if path is not None else {}
    unknown = [f"{name}: names no setting" for name in _unknown_variables(model, prefix, environ)]
    unknown += _apply_list_overrides(model, prefix, environ, document)
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
    entry = _list_entry_model(field.annotation)
    if entry is not None:
        return len(path) > 2 and path[1].isdigit() and _names_a_key(entry, path[2:])
    section = field.annotation
    return (
        isinstance(section, type)
        and issubclass(section, BaseModel)
        and _names_a_key(section, path[1:])
    )


def _list_entry_model(annotation: Any) -> type[BaseModel] | None:
    """The section of a ``list[Section]`` field (a TOML array of tables), else None."""
    if get_origin(annotation) is not list:
        return None
    [entry] = get_args(annotation) or (None,)
    return entry if isinstance(entry, type) and issubclass(entry, BaseModel) else None


def _apply_list_overrides(
    model: type[BaseModel], prefix: str, environ: Mapping[str, str], document: dict[str, Any]
) -> list[str]:
    """Write variables naming a key in one entry of an array of tables into ``document``
    (e.g. ``LINETRACE_EDGE_CAMERAS__0__MQTT__PASSWORD``, entries counted from 0):
    pydantic-settings does not reach into lists. Returns the variables naming no entry."""
    problems = []
    for name, value in sorted(environ.items()):
        if not name.upper().startswith(prefix):
            continue
        path = name[len(prefix) :].lower().split(ENV_NESTED_DELIMITER)
        field = model.model_fields.get(path[0])
        if field is None or _list_entry_model(field.annotation) is None:
            continue
        entries = document.get(path[0])
        index = int(path[1]) if len(path) > 1 and path[1].isdigit() else -1
        if not isinstance(entries, list) or not 0 <= index < len(entries):
            problems.append(f"{name}: the file has no {path[0]} entry {index}")
            continue
        section = entries[index]
        for key in path[2:-1]:
            section = section.setdefault(key, {}) if isinstance(section, dict) else None
        if not isinstance(section, dict):
            problems.append(f"{name}: the file's {path[0]} entry {index} has no such table")
            continue
        section[path[-1]] = value
    return problems


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
