"""linetrace.settings: one loader for every process, with one precedence and one error type."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import Field
from pydantic_settings import SettingsConfigDict

from linetrace.errors import ConfigError
from linetrace.settings import Section, SettingsModel, load_settings


class Link(Section):
    host: str = "localhost"
    port: int = Field(default=1883, ge=1, le=65535)


class Toy(SettingsModel):
    """A tiny process's settings: one top-level key and one section."""

    model_config = SettingsConfigDict(env_prefix="LINETRACE_TOY_")

    name: str = "toy"
    link: Link = Field(default_factory=Link)


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """No LINETRACE_TOY_* variable from the caller's shell reaches these tests."""
    import os

    for name in list(os.environ):
        if name.upper().startswith("LINETRACE_TOY_"):
            monkeypatch.delenv(name)


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "toy.toml"
    path.write_text(text)
    return path


def test_defaults_without_file_or_environment() -> None:
    settings = load_settings(Toy, None)
    assert (settings.name, settings.link.host, settings.link.port) == ("toy", "localhost", 1883)


def test_the_file_overrides_the_defaults(tmp_path: Path) -> None:
    path = write(tmp_path, 'name = "from-file"\n[link]\nport = 2883\n')
    settings = load_settings(Toy, path)
    assert (settings.name, settings.link.host, settings.link.port) == (
        "from-file",
        "localhost",
        2883,
    )


def test_the_environment_overrides_the_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, 'name = "from-file"\n[link]\nhost = "file-host"\nport = 2883\n')
    monkeypatch.setenv("LINETRACE_TOY_NAME", "from-env")
    monkeypatch.setenv("LINETRACE_TOY_LINK__PORT", "3883")
    settings = load_settings(Toy, path)
    assert settings.name == "from-env"
    assert settings.link.port == 3883
    assert settings.link.host == "file-host"  # a key the environment leaves alone stays


def test_variable_names_are_case_insensitive(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("linetrace_toy_link__host", "broker.example")
    assert load_settings(Toy, None).link.host == "broker.example"


@pytest.mark.parametrize("variable", ["LINETRACE_TOY_NAEM", "LINETRACE_TOY_LINK__PROT"])
def test_a_prefixed_variable_that_names_no_key_is_refused(
    monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "1")
    with pytest.raises(ConfigError) as raised:
        load_settings(Toy, None)
    assert raised.value.problems == [f"{variable}: names no setting"]


def test_a_variable_below_a_plain_key_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_TOY_NAME__X", "1")
    with pytest.raises(ConfigError, match="LINETRACE_TOY_NAME__X: names no setting"):
        load_settings(Toy, None)


def test_other_variables_are_not_ours_to_judge(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LINETRACE_OTHER_NAME", "x")
    assert load_settings(Toy, None).name == "toy"


def test_a_bad_value_names_the_key_and_the_variable_that_set_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINETRACE_TOY_LINK__PORT", "99999")
    with pytest.raises(ConfigError) as raised:
        load_settings(Toy, write(tmp_path, "[link]\nport = 2883\n"))
    [problem] = raised.value.problems
    assert problem.startswith("link.port: ")
    assert problem.endswith("(set by LINETRACE_TOY_LINK__PORT)")
    assert str(tmp_path / "toy.toml") in raised.value.origin


def test_a_bad_value_in_the_file_names_the_key_alone(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as raised:
        load_settings(Toy, write(tmp_path, '[link]\nport = "many"\n'))
    [problem] = raised.value.problems
    assert problem.startswith("link.port: ")
    assert "set by" not in problem


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    path = write(tmp_path, 'nmae = "x"\n[link]\nport = 0\nhots = "y"\n')
    with pytest.raises(ConfigError) as raised:
        load_settings(Toy, path)
    keys = sorted(problem.split(":")[0] for problem in raised.value.problems)
    assert keys == ["link.hots", "link.port", "nmae"]


def test_an_unreadable_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read the file") as raised:
        load_settings(Toy, tmp_path / "missing.toml")
    assert raised.value.origin == str(tmp_path / "missing.toml")


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(Toy, write(tmp_path, "name = \n"))


def test_the_base_forbids_extra_keys_and_nests_with_double_underscores() -> None:
    config = Toy.model_config
    assert config.get("extra") == "forbid"
    assert config.get("env_nested_delimiter") == "__"
    assert config.get("case_sensitive") is False
    assert Toy.env_prefix() == "LINETRACE_TOY_"
