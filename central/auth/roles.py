"""Who may do what: three roles and the four permissions they grant.

Permissions, not roles, are what routes ask for, so that a route says what it does
(``OPERATE``) and the mapping to people lives in one table here.
"""

from __future__ import annotations

from enum import StrEnum

__all__ = ["ROLE_PERMISSIONS", "Permission", "Role"]


class Role(StrEnum):
    OPERATOR = "operator"
    AUDITOR = "auditor"
    ADMIN = "admin"


class Permission(StrEnum):
    VIEW = "view"
    """Events, stations, dashboard, alarms, traces, relay status (every role)."""
    OPERATE = "operate"
    """Start and close batches, acknowledge alarms, retry the relay."""
    AUDIT = "audit"
    """Search export, lot reports and their downloads, the audit log."""
    ADMINISTER = "administer"
    """Products, stations, master data, users and tokens, thresholds, replay, portal."""


ROLE_PERMISSIONS: dict[Role, frozenset[Permission]] = {
    Role.OPERATOR: frozenset({Permission.VIEW, Permission.OPERATE}),
    Role.AUDITOR: frozenset({Permission.VIEW, Permission.AUDIT}),
    Role.ADMIN: frozenset(Permission),
}
