"""Relay targets: one adapter module per kind, chosen by ``kind`` in ``[[relay.targets]]``.

In: a target's settings. Out: a :class:`~.base.Target` that delivers mapped events and
says what became of each. :data:`TARGET_KINDS` maps each kind to the factory building
its adapter; the factories import their modules only when called, so reading the
settings does not load HTTP clients.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from linetrace.central.relay.targets.base import Outcome, Outgoing, Reconciling, Target, TargetError

if TYPE_CHECKING:
    from linetrace.central.relay.settings import TargetSettings

__all__ = [
    "TARGET_KINDS",
    "Outcome",
    "Outgoing",
    "Reconciling",
    "Target",
    "TargetError",
    "open_target",
]


def _epcis(settings: TargetSettings) -> Target:
    from linetrace.central.relay.targets.epcis import EpcisTarget

    return EpcisTarget(settings)


def _vn_portal(settings: TargetSettings) -> Target:
    from linetrace.central.relay.targets.vn_portal import open_vn_portal

    return open_vn_portal(settings)


TARGET_KINDS: dict[str, Callable[[TargetSettings], Target]] = {
    "epcis": _epcis,
    "vn-portal": _vn_portal,
}


def open_target(settings: TargetSettings) -> Target:
    """The adapter for ``settings.kind``."""
    try:
        factory = TARGET_KINDS[settings.kind]
    except KeyError:
        raise TargetError(f"no relay adapter of kind {settings.kind!r}") from None
    return factory(settings)
