"""Every exception linetrace defines derives from LinetraceError (linetrace.errors' tree).

A command-line verb or a service loop tells "something linetrace diagnosed" from a bug by
that root; an exception class that bypasses it would be reported as a crash.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Iterator
from types import ModuleType

import pytest

from linetrace import errors
from linetrace.errors import (
    BrokerError,
    ConfigError,
    ContractError,
    InvalidCode,
    LinetraceError,
    MosquittoNotFoundError,
    NotFound,
)

# The packages of the distribution: linetrace itself and the parts mapped into it.
ROOTS = ("linetrace", "linetrace.edge", "linetrace.broker", "linetrace.central")
# Not imported: running __main__ starts the command line, and Alembic's env.py runs a
# migration on import. Neither defines an exception.
SKIPPED = ("linetrace.__main__", "linetrace.central.store.migrations")


def _modules() -> Iterator[ModuleType]:
    seen: set[str] = set()
    for root in ROOTS:
        package = importlib.import_module(root)
        names = [root] + [
            info.name
            for info in pkgutil.walk_packages(package.__path__, f"{root}.")
            if not info.name.startswith(SKIPPED)
        ]
        for name in names:
            if name not in seen:
                seen.add(name)
                yield importlib.import_module(name)


def _exception_classes() -> dict[str, type[BaseException]]:
    """``module.Class`` -> class, for each exception class defined in a linetrace module."""
    found: dict[str, type[BaseException]] = {}
    for module in _modules():
        for name, value in vars(module).items():
            if (
                inspect.isclass(value)
                and issubclass(value, BaseException)
                and value.__module__ == module.__name__
            ):
                found[f"{module.__name__}.{name}"] = value
    return found


EXCEPTIONS = _exception_classes()


def test_the_walk_finds_the_parts_exceptions() -> None:
    assert "linetrace.errors.LinetraceError" in EXCEPTIONS
    assert any(name.startswith("linetrace.broker.") for name in EXCEPTIONS if "errors" not in name)
    assert len(EXCEPTIONS) > len(errors.__all__)


def test_every_exception_derives_from_linetrace_error() -> None:
    """Private classes (``_Stop``) are control-flow signals that never leave their module."""
    outside = sorted(
        name
        for name, cls in EXCEPTIONS.items()
        if not issubclass(cls, LinetraceError) and not cls.__name__.startswith("_")
    )
    assert outside == [], f"not under LinetraceError: {', '.join(outside)}"


@pytest.mark.parametrize(
    ("cls", "bases"),
    [
        (ConfigError, (LinetraceError,)),
        (ContractError, (LinetraceError, ValueError)),
        (BrokerError, (LinetraceError,)),
        (MosquittoNotFoundError, (BrokerError,)),
        (InvalidCode, (LinetraceError, ValueError)),
        (NotFound, (LinetraceError, LookupError)),
    ],
)
def test_the_shared_branches_keep_their_standard_bases(
    cls: type[BaseException], bases: tuple[type[BaseException], ...]
) -> None:
    assert all(issubclass(cls, base) for base in bases)


def test_config_error_lists_each_problem_under_its_origin() -> None:
    error = ConfigError(["mqtt.port: too big", "name: missing"], "edge.toml")
    assert error.problems == ["mqtt.port: too big", "name: missing"]
    assert str(error) == "edge.toml is invalid:\n  mqtt.port: too big\n  name: missing"


def test_contract_error_keeps_its_reason_for_dead_letters() -> None:
    assert ContractError("seq must be positive").reason == "seq must be positive"
