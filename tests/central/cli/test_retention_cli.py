"""``linetrace central retention`` and ``retention archive`` on a database file."""

from __future__ import annotations

import json
from datetime import date, datetime
from pathlib import Path

import pytest

from linetrace.central.store import open_engine, upgrade
from tests.central.central_main import main
from tests.central.helpers import GTIN, HCM
from tests.central.running import write_config
from tests.central.trace_helpers import item, store

OLD, RECENT = "L2018", "L2030"


@pytest.fixture
def config(tmp_path: Path) -> Path:
    """A lot read in 2018 that expired in 2019 (due today) and one expiring in 2030."""
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    engine = open_engine(url)
    try:
        store(
            engine,
            item(
                1, "000001", datetime(2018, 5, 2, 9, tzinfo=HCM), lot=OLD, expiry=date(2019, 5, 31)
            ),
            item(
                2, "000002", datetime(2018, 5, 2, 10, tzinfo=HCM), lot=OLD, expiry=date(2019, 5, 31)
            ),
            item(3, "000003", datetime.now(HCM), lot=RECENT, expiry=date(2030, 1, 31)),
        )
    finally:
        engine.dispose()
    return write_config(tmp_path / "central.toml", url)


def lines(text: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in text.splitlines()]


def test_the_report_and_the_archive(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["central", "retention", "--config", str(config)]) == 0
    out = capsys.readouterr()
    report = {r["lot"]: r for r in lines(out.out)}
    assert report[OLD]["due"] is True
    assert report[OLD]["expiry"] == "2019-05-31"
    assert report[OLD]["may_archive_on"] == "2020-06-01"
    assert report[RECENT]["due"] is False
    assert report[RECENT]["keep_until"] == "2031-01-31"
    assert "1 of 2 lots may be archived" in out.err
    assert (
        main(["central", "retention", "--config", str(config), "--on", "2031-02-01", "--due"]) == 0
    )
    assert [r["lot"] for r in lines(capsys.readouterr().out)] == [OLD, RECENT]

    folder = tmp_path / "archive"
    refused = main(
        [
            "central",
            "retention",
            "archive",
            "--config",
            str(config),
            "--lot",
            f"{GTIN}/{RECENT}",
            "--to",
            str(folder),
        ]
    )
    assert refused == 1
    assert "must be kept until 2031-01-31" in capsys.readouterr().err

    done = main(
        [
            "central",
            "retention",
            "archive",
            "--config",
            str(config),
            "--all-due",
            "--to",
            str(folder),
        ]
    )
    out = capsys.readouterr()
    assert done == 0, out.err
    [archived] = lines(out.out)
    assert (archived["lot"], archived["exported"]) == (OLD, 2)
    assert sorted(p.name for p in folder.iterdir()) == [
        f"{GTIN}_{OLD}.csv",
        f"{GTIN}_{OLD}.epcis.json",
        f"{GTIN}_{OLD}.manifest.json",
    ]
    assert main(["central", "retention", "--config", str(config)]) == 0
    assert [r["lot"] for r in lines(capsys.readouterr().out)] == [RECENT]


def test_a_bad_lot_is_refused(
    config: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["central", "retention", "archive", "--config", str(config), "--to", str(tmp_path)]
    assert main([*args, "--lot", "L1"]) == 2
    assert "must be GTIN/LOT" in capsys.readouterr().err
