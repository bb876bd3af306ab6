"""Scope checks for handlers whose site and line are in a body or a stored row, not in
the path (the guard checks path parameters itself).

One rule everywhere: what is outside a principal's scope does not exist for reads (404,
or left out of a list) and is forbidden for changes (403), so a scoped operator can
neither see another line's data nor learn that a batch number exists there.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TypeVar

from fastapi import HTTPException, status

from linetrace.central.auth.principal import Principal

__all__ = ["check_change", "check_read", "sees_path", "visible"]

T = TypeVar("T")


def sees_path(principal: Principal, path: str | None) -> bool:
    """Whether ``SITE``, ``SITE/LINE`` or ``SITE/LINE/STATION`` is in scope.

    None (a record of no site: the relay, the whole plant) is seen by everyone who may
    view at all.
    """
    if path is None or principal.unscoped:
        return True
    parts = path.split("/")
    if len(parts) == 1:
        return principal.sees_any_of(parts[0])
    return principal.sees(parts[0], parts[1])


def visible(principal: Principal, items: Iterable[T], path: Callable[[T], str | None]) -> list[T]:
    """``items`` in scope, in their order."""
    return [item for item in items if sees_path(principal, path(item))]


def check_read(principal: Principal, path: str | None, what: str = "not found") -> None:
    """404 unless ``path`` is in scope."""
    if not sees_path(principal, path):
        raise HTTPException(status.HTTP_404_NOT_FOUND, what)


def check_change(principal: Principal, path: str | None) -> None:
    """403 unless ``path`` is in scope."""
    if not sees_path(principal, path):
        raise HTTPException(status.HTTP_403_FORBIDDEN, f"{path} is outside your scope")
