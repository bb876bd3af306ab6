"""The authenticated caller of a request: a person's session or a machine token.

A principal's scopes narrow what it sees to sites or lines; the empty tuple means every
site, so an unscoped admin needs no special case anywhere.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from linetrace.central.auth.roles import ROLE_PERMISSIONS, Permission, Role
from linetrace.errors import LinetraceError

__all__ = ["InvalidScope", "Principal", "Scope", "parse_scopes"]

# The contract's site and line ids: lower-case letters, digits, '-' and '_'.
_PART = r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}"
_SCOPE = re.compile(rf"({_PART})(?:/({_PART}))?")


class InvalidScope(LinetraceError, ValueError):
    """A scope that is neither ``site`` nor ``site/line``."""


@dataclass(frozen=True)
class Scope:
    """One site, or one line of a site."""

    site: str
    line: str | None = None

    @classmethod
    def parse(cls, text: str) -> Scope:
        """``"hcm1"`` or ``"hcm1/L1"``."""
        match = _SCOPE.fullmatch(text.strip())
        if match is None:
            raise InvalidScope(f"scope {text!r} is not SITE or SITE/LINE")
        return cls(match.group(1), match.group(2))

    def __str__(self) -> str:
        return self.site if self.line is None else f"{self.site}/{self.line}"

    def covers(self, site: str, line: str | None) -> bool:
        """Whether this scope includes ``site``/``line`` (``line`` None: the whole site)."""
        if site != self.site:
            return False
        return self.line is None or self.line == line


def parse_scopes(texts: list[str] | tuple[str, ...]) -> tuple[Scope, ...]:
    """Scopes from their text forms, duplicates removed, in the order given."""
    return tuple(dict.fromkeys(Scope.parse(text) for text in texts))


@dataclass(frozen=True)
class Principal:
    """Who is asking, with which role, limited to which sites or lines."""

    name: str
    role: Role
    scopes: tuple[Scope, ...] = ()
    via: Literal["session", "token"] = "token"
    language: str | None = None

    @property
    def unscoped(self) -> bool:
        return not self.scopes

    def may(self, permission: Permission) -> bool:
        return permission in ROLE_PERMISSIONS[self.role]

    def sees(self, site: str, line: str | None = None) -> bool:
        """Whether ``site`` (and ``line``, when given) is within this principal's scope.

        ``line`` None asks about the site as a whole: only a site-wide scope covers it.
        """
        return self.unscoped or any(scope.covers(site, line) for scope in self.scopes)

    def sees_any_of(self, site: str) -> bool:
        """Whether some line of ``site`` is within scope (a site shown in a list)."""
        return self.unscoped or any(scope.site == site for scope in self.scopes)

    def where(
        self, site_column: sa.ColumnElement[str], line_column: sa.ColumnElement[str] | None
    ) -> ColumnElement[bool]:
        """A clause keeping only rows within scope (``sa.true()`` when unscoped).

        ``line_column`` None: a table keyed by site only; a line scope then covers its site.
        """
        if self.unscoped:
            return sa.true()
        clauses: list[ColumnElement[bool]] = []
        for scope in self.scopes:
            if scope.line is None or line_column is None:
                clauses.append(site_column == scope.site)
            else:
                clauses.append(sa.and_(site_column == scope.site, line_column == scope.line))
        return sa.or_(*clauses)
