"""The one root of linetrace's own exceptions, and the branches shared by its parts.

Every exception linetrace raises on purpose derives from :class:`LinetraceError`, so a
command-line verb or a service loop can tell "something we diagnosed, with a message meant
for an operator" from a bug. The tree is small on purpose::

    LinetraceError                      anything linetrace raises on purpose
    ├── ConfigError                     a settings file or variable is unusable; names each key
    ├── ContractError (ValueError)      a message or topic breaks the broker contract
    ├── BrokerError                     the broker cannot be set up, started or reached
    │   └── MosquittoNotFoundError      the mosquitto program is not installed
    ├── InvalidCode (ValueError)        a GS1 key or code breaks its rules (length, check digit)
    └── NotFound (LookupError)          a named record does not exist (lot, batch, alarm, …)

Each part's own exceptions subclass one of these, or the root directly; they are
defined beside the code that raises them and say in their docstring what went wrong.
The ``ValueError`` and ``LookupError`` bases keep the standard meaning for callers (and
pydantic validators) that catch those.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "BrokerError",
    "ConfigError",
    "ContractError",
    "InvalidCode",
    "LinetraceError",
    "MosquittoNotFoundError",
    "NotFound",
]


class LinetraceError(Exception):
    """Something linetrace diagnosed; the message says what is wrong and, where it can, what to do."""


class ConfigError(LinetraceError):
    """The configuration cannot be used; ``problems`` lists each one as ``key: why``."""

    def __init__(self, problems: Sequence[str], origin: str = "configuration") -> None:
        self.problems = list(problems)
        self.origin = origin
        super().__init__(f"{origin} is invalid:\n  " + "\n  ".join(self.problems))


class ContractError(LinetraceError, ValueError):
    """A message or topic that breaks the contract; ``reason`` is stored with dead letters."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class BrokerError(LinetraceError):
    """The broker cannot be used: a bad broker directory, unreachable, TLS or login refused."""


class MosquittoNotFoundError(BrokerError):
    """The ``mosquitto`` program is not installed."""


class InvalidCode(LinetraceError, ValueError):
    """A GS1 key or code that breaks its rules; the message names the rule."""


class NotFound(LinetraceError, LookupError):
    """A record named by the caller (a lot, a batch, an alarm, a code) does not exist."""
