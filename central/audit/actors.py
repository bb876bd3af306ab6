"""Who an action is recorded against: the signed-in principal, or the CLI's OS user."""

from __future__ import annotations

import getpass
from typing import Any

__all__ = ["ANONYMOUS", "actor_of", "cli_actor"]

# Recorded when no principal was set: an open route, or a test app without the guard.
ANONYMOUS = "anonymous"


def actor_of(request: Any) -> str:
    """The name of the request's principal (set by the guard), else ``"anonymous"``.

    Typed loosely so the module needs no web framework: anything with ``.state`` works.
    """
    principal = getattr(getattr(request, "state", None), "principal", None)
    name = getattr(principal, "name", None)
    return name if isinstance(name, str) and name else ANONYMOUS


def cli_actor() -> str:
    """``cli:<os user>``: a CLI verb acts as whoever runs it on the central host."""
    try:
        user = getpass.getuser()
    except (KeyError, OSError):  # no name for the uid (a bare container)
        user = "unknown"
    return f"cli:{user}"
