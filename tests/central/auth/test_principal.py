"""Scopes, permissions and the scope clause a principal adds to queries."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from linetrace.central.auth import Permission, Principal, Role, Scope
from linetrace.central.auth.principal import InvalidScope, parse_scopes


def test_scopes_parse_sites_and_lines() -> None:
    assert Scope.parse("hcm1") == Scope("hcm1")
    assert Scope.parse("hcm1/L1") == Scope("hcm1", "L1")
    assert str(Scope("hcm1", "L1")) == "hcm1/L1"
    assert parse_scopes(["hcm1", "hcm1", "hn2/L3"]) == (Scope("hcm1"), Scope("hn2", "L3"))


@pytest.mark.parametrize("text", ["", "/L1", "hcm1/", "a/b/c", "hcm 1", "-x"])
def test_malformed_scopes_are_refused(text: str) -> None:
    with pytest.raises(InvalidScope):
        Scope.parse(text)


@pytest.mark.parametrize(
    ("role", "allowed"),
    [
        (Role.OPERATOR, {Permission.VIEW, Permission.OPERATE}),
        (Role.AUDITOR, {Permission.VIEW, Permission.AUDIT}),
        (Role.ADMIN, set(Permission)),
    ],
)
def test_roles_grant_their_permissions(role: Role, allowed: set[Permission]) -> None:
    principal = Principal("x", role)
    assert {p for p in Permission if principal.may(p)} == allowed


def test_sees_within_scope_only() -> None:
    line = Principal("x", Role.OPERATOR, (Scope("hcm1", "L1"),))
    site = Principal("y", Role.OPERATOR, (Scope("hn2"),))
    everyone = Principal("z", Role.ADMIN)
    assert line.sees("hcm1", "L1")
    assert not line.sees("hcm1", "L2")
    assert not line.sees("hcm1")  # the whole site is more than one line
    assert line.sees_any_of("hcm1")
    assert site.sees("hn2", "L9")
    assert site.sees("hn2")
    assert not site.sees("hcm1", "L1")
    assert everyone.sees("anything", "L1")


def test_where_filters_rows_to_the_scope() -> None:
    table = sa.table("t", sa.column("site"), sa.column("line"))
    engine = sa.create_engine("sqlite://")
    rows = [("hcm1", "L1"), ("hcm1", "L2"), ("hn2", "L1"), ("dn3", "L1")]
    with engine.begin() as connection:
        connection.execute(sa.text("CREATE TABLE t (site TEXT, line TEXT)"))
        connection.execute(
            sa.text("INSERT INTO t VALUES (:site, :line)"),
            [{"site": s, "line": line} for s, line in rows],
        )

        def seen(principal: Principal) -> set[tuple[str, str]]:
            query = sa.select(table.c.site, table.c.line).where(
                principal.where(table.c.site, table.c.line)
            )
            return {(row.site, row.line) for row in connection.execute(query)}

        assert seen(Principal("a", Role.ADMIN)) == set(rows)
        scoped = Principal("o", Role.OPERATOR, (Scope("hcm1", "L1"), Scope("hn2")))
        assert seen(scoped) == {("hcm1", "L1"), ("hn2", "L1")}
