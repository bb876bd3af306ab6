"""What a sandbox profile is, and the registry of profiles by name.

A profile is one kind of target (``epcis-async``, ``epcis-sync``, ``vn-portal``): given
the sandbox's shared :class:`~linetrace.central.relay.sandbox.state.SandboxState` (the
fault plan, the counters, the clock, the schema, the auth settings) it builds the HTTP
routes that behave like that target, keeps what it accepted, and says its limits. The
server (``app.py``) wraps those routes with the fault injection, the request counting and
the ``/_sandbox`` control endpoints, which every profile shares.

Registering a profile is one line in :data:`PROFILES`: its name and the dotted path of
its ``build(state) -> Profile`` function, imported only when that profile is chosen (so
``linetrace portal --help`` imports no server code).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol

from linetrace.errors import NotFound

if TYPE_CHECKING:
    from starlette.routing import BaseRoute

    from linetrace.central.relay.sandbox.state import SandboxState

__all__ = ["PROFILES", "Profile", "ProfileBuilder", "UnknownProfile", "build_profile"]


class Profile(Protocol):
    """One kind of target, built for one sandbox run."""

    name: str

    def routes(self) -> Sequence[BaseRoute]:
        """The target's own routes (everything but ``/_sandbox/...``)."""
        ...

    def limits(self) -> dict[str, object]:
        """What the target advertises or enforces, printed at start and in the stats."""
        ...

    def stats(self) -> dict[str, object]:
        """Profile-specific figures merged into ``GET /_sandbox/stats`` (e.g. stored count)."""
        ...

    def reset(self) -> None:
        """Forget everything accepted (``POST /_sandbox/reset``), keeping the settings."""
        ...


ProfileBuilder = Callable[["SandboxState"], Profile]

# name -> "module:function"; the module is imported only when the profile is chosen.
PROFILES: dict[str, str] = {
    "epcis-async": "linetrace.central.relay.sandbox.epcis:build_async",
    "epcis-sync": "linetrace.central.relay.sandbox.epcis:build_sync",
    "vn-portal": "linetrace.central.relay.sandbox.vn_portal:build",
}


class UnknownProfile(NotFound):
    """A profile name that is not in :data:`PROFILES`."""


def build_profile(name: str, state: SandboxState) -> Profile:
    """Import the profile's module and build it on ``state``."""
    try:
        target = PROFILES[name]
    except KeyError:
        raise UnknownProfile(
            f"no sandbox profile {name!r}; known: {', '.join(sorted(PROFILES))}"
        ) from None
    module_name, _, function = target.partition(":")
    builder: ProfileBuilder = getattr(importlib.import_module(module_name), function)
    return builder(state)
