"""``linetrace central audit verify | list``, the records CLI verbs leave, and retention
leaving the audit log alone."""

from __future__ import annotations

import json
import re
from datetime import date, datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from linetrace.central.store import open_engine, upgrade
from linetrace.central.store.audit_tables import audit_log
from tests.central.central_main import main
from tests.central.helpers import GTIN, HCM
from tests.central.running import write_config
from tests.central.trace_helpers import item, store

ROOT = Path(__file__).resolve().parents[3]
OLD = "L2018"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A database holding a lot read in 2018 that expired in 2019: due for archiving."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = open_engine(url)
    try:
        store(
            engine,
            item(
                1, "000001", datetime(2018, 5, 2, 9, tzinfo=HCM), lot=OLD, expiry=date(2019, 5, 31)
            ),
        )
    finally:
        engine.dispose()
    return write_config(tmp_path / "central.toml", url)


def central(config: Path, *argv: str) -> int:
    verb, *rest = argv
    return main(["central", verb, *rest[:1], "--config", str(config), *rest[1:]])


def intact(out: str) -> int:
    found = re.fullmatch(r"intact: (\d+) records", out.strip())
    assert found is not None, out
    return int(found.group(1))


def act(config: Path) -> None:
    """Three audited CLI actions: a product, a station, a batch."""
    assert central(config, "product", "set", GTIN, "--name", "Nước mắm") == 0
    assert central(config, "station", "add", "hcm1/L1/S9") == 0
    assert central(config, "batch", "start", "hcm1/L1", "--gtin", GTIN, "--lot", "L2611") == 0


def test_cli_actions_are_recorded_and_verified(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    act(config)
    capsys.readouterr()
    assert central(config, "audit", "verify") == 0
    assert intact(capsys.readouterr().out.splitlines()[-1]) >= 3
    assert central(config, "audit", "list") == 0
    printed = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    # Migrating creates the first admin (its own record): leave the account records out.
    listed = [r for r in printed if not r["action"].startswith("user.")]
    assert [r["action"] for r in listed] == ["batch.start", "station.register", "product.create"]
    assert all(r["actor"].startswith("cli:") for r in listed)
    assert listed[0]["details"]["lot"] == "L2611"
    assert central(config, "audit", "list", "--action", "batch.", "--limit", "5") == 0
    assert len(capsys.readouterr().out.splitlines()) == 1


def test_verify_names_the_first_broken_record(
    config: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    act(config)
    url = f"sqlite:///{config.parent / 'c.db'}"
    engine = open_engine(url)
    try:
        with engine.begin() as connection:
            connection.execute(
                sa.update(audit_log).where(audit_log.c.id == 2).values(target="station/x/y/z")
            )
    finally:
        engine.dispose()
    capsys.readouterr()
    assert central(config, "audit", "verify") == 1
    err = capsys.readouterr().err
    assert "broken at record 2: its contents were changed" in err


def test_bad_list_options_are_refused(config: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        central(config, "audit", "list", "--since", "2026-01-01T00:00:00")
    assert exited.value.code == 2
    assert "needs a UTC offset" in capsys.readouterr().err


def test_archiving_a_lot_keeps_the_audit_log(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Retention removes a due lot's events, never an audit record, and audits itself."""
    act(config)
    capsys.readouterr()
    assert central(config, "audit", "verify") == 0
    before = intact(capsys.readouterr().out)
    archive = ["archive", "--lot", f"{GTIN}/{OLD}", "--to", str(tmp_path / "archive")]
    assert central(config, "retention", *archive) == 0
    capsys.readouterr()
    assert central(config, "audit", "verify") == 0
    assert intact(capsys.readouterr().out) == before + 1
    assert central(config, "audit", "list", "--action", "lot.archive") == 0
    (archived,) = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert archived["target"] == f"lot/{GTIN}/{OLD}"
    assert archived["details"]["events"] == 1


def test_only_the_audit_package_writes_the_audit_tables() -> None:
    """No retention, archive or other code deletes or rewrites audit records."""
    writes = re.compile(r"(delete|update)\(\s*audit_(log|head)|audit_(log|head)\.(delete|update)")
    offenders = [
        str(path.relative_to(ROOT))
        for part in ("central", "edge", "linetrace", "broker")
        for path in (ROOT / part).rglob("*.py")
        if writes.search(path.read_text(encoding="utf-8")) and path.parent.name != "audit"
    ]
    assert offenders == []
