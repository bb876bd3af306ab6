"""``central migrate`` makes the first admin; ``user`` and ``token`` verbs manage access."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import sqlalchemy as sa

from linetrace.central.auth.tokens import principal_for_token
from linetrace.central.store import open_engine
from linetrace.central.store.audit_tables import audit_log
from tests.central.central_main import main
from tests.central.running import write_config


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> Path:
    return write_config(tmp_path / "central.toml", database_url)


def test_migrate_makes_the_first_admin_once(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["central", "migrate", "--config", str(config)]) == 0
    said = capsys.readouterr().err
    assert "created user 'admin' with one-time password" in said
    assert main(["central", "migrate", "--config", str(config)]) == 0
    assert "one-time password" not in capsys.readouterr().err
    assert main(["central", "user", "list", "--config", str(config)]) == 0
    (admin,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert admin["name"] == "admin"
    assert admin["role"] == "admin"
    assert admin["must_change_password"] is True


def test_user_verbs(
    config: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    base = ["--config", str(config)]
    assert (
        main(["central", "user", "add", "lan", "--role", "operator", "--scope", "hcm1/L1", *base])
        == 0
    )
    assert "one-time password for lan: " in capsys.readouterr().out
    monkeypatch.setattr("sys.stdin", io.StringIO("chosen by a script\n"))
    assert (
        main(["central", "user", "add", "bao", "--role", "auditor", "--password-stdin", *base]) == 0
    )
    assert capsys.readouterr().out == ""
    assert main(["central", "user", "add", "lan", "--role", "admin", *base]) == 2
    assert "exists" in capsys.readouterr().err
    assert main(["central", "user", "add", "x", "--role", "admin", "--scope", "a/b/c", *base]) == 2
    assert main(["central", "user", "passwd", "bao", *base]) == 0
    assert "one-time password for bao" in capsys.readouterr().out
    assert main(["central", "user", "disable", "lan", *base]) == 0
    assert main(["central", "user", "disable", "nobody", *base]) == 1
    capsys.readouterr()
    assert main(["central", "user", "list", *base]) == 0
    listed = {row["name"]: row for row in map(json.loads, capsys.readouterr().out.splitlines())}
    assert listed["lan"]["disabled"] is True
    assert listed["lan"]["scopes"] == ["hcm1/L1"]
    assert listed["bao"]["must_change_password"] is True


def test_token_verbs(config: Path, database_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    base = ["--config", str(config)]
    create = ["central", "token", "create", "erp", "--role", "auditor", "--expires-days", "30"]
    assert main([*create, *base]) == 0
    secret = capsys.readouterr().out.strip()
    assert secret.startswith("lt_")
    engine = open_engine(database_url)
    with engine.begin() as connection:
        principal = principal_for_token(connection, secret)
    assert principal is not None
    assert principal.name == "token:erp"
    assert main(["central", "token", "list", *base]) == 0
    (row,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert secret not in json.dumps(row)
    assert row["expires_at"] is not None
    assert main(["central", "token", "revoke", "erp", *base]) == 0
    assert main(["central", "token", "revoke", "erp", *base]) == 1
    with engine.begin() as connection:
        assert principal_for_token(connection, secret) is None
        actions = [r.action for r in connection.execute(sa.select(audit_log.c.action))]
    engine.dispose()
    assert actions == ["token.create", "token.revoke"]
