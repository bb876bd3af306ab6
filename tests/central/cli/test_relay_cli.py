"""``linetrace central relay status | retry`` and ``event retract``, in-process, and
``GET /api/relay`` / ``POST /api/relay/retry`` on the same database."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from linetrace.central.api.app import create_app
from linetrace.central.config import CentralSettings, DatabaseSettings
from linetrace.central.relay import queue
from linetrace.central.store import open_engine, upgrade
from tests.central.auth_helpers import login_headers
from tests.central.central_main import main
from tests.central.relay.relay_helpers import queue_rows, reads, state_counts, store_queued


def _config(tmp_path: Path) -> tuple[Path, str]:
    url = f"sqlite:///{tmp_path / 'c.db'}"
    upgrade(url)
    config = tmp_path / "central.toml"
    config.write_text(
        f'[database]\nurl = "{url}"\n'
        '[[relay.targets]]\nname = "repo"\nkind = "epcis"\nurl = "http://127.0.0.1:9"\n'
    )
    return config, url


def test_status_retry_and_retract(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config, url = _config(tmp_path)
    engine = open_engine(url)
    try:
        scans = reads(3)
        store_queued(engine, scans, ("repo",))
        with engine.begin() as connection:
            rows = queue.claim(connection, "repo", "w", 10, datetime.now(UTC), 60)
            queue.mark_accepted(connection, "repo", rows[:2], {r.id: f"ni:///{r.id}" for r in rows}, "w", datetime.now(UTC))  # fmt: skip
            queue.mark_rejected(
                connection, {rows[2].id: "no product image"}, "w", datetime.now(UTC)
            )

        assert main(["central", "relay", "status", "--config", str(config)]) == 0
        report = json.loads(capsys.readouterr().out)
        [target] = report["targets"]
        assert target["target"] == "repo"
        assert target["counts"] == {"queued": 0, "sent": 0, "accepted": 2, "rejected": 1}
        assert target["lots"][0]["lot"] == "L2611"
        assert target["lots"][0]["rejected"] == 1
        assert target["oldest_undelivered_age_s"] is None

        assert main(["central", "relay", "retry", "--config", str(config), "--lot", "L2611"]) == 0
        assert "1 rejected events queued again" in capsys.readouterr().out
        assert state_counts(engine, "repo") == {"accepted": 2, "queued": 1}
        assert main(["central", "relay", "retry", "--config", str(config), "--target", "nope"]) == 2

        retract = ["central", "event", "retract", str(scans[0].event_id), "--config", str(config)]
        assert main([*retract, "--reason", "wrong lot"]) == 0
        assert "queued for repo" in capsys.readouterr().out
        assert main([*retract, "--reason", "again"]) == 0  # once per target
        assert "nothing to send" in capsys.readouterr().out
        assert [r["action"] for r in queue_rows(engine, "repo")].count("retract") == 1
        missing = ["central", "event", "retract", "0190a000-0000-7000-8000-000000000000"]
        assert main([*missing, "--reason", "x", "--config", str(config)]) == 1
    finally:
        engine.dispose()


def test_the_api_shows_and_retries(tmp_path: Path) -> None:
    _, url = _config(tmp_path)
    engine = open_engine(url)
    try:
        store_queued(engine, reads(2), ("repo",))
        with engine.begin() as connection:
            rows = queue.claim(connection, "repo", "w", 10, datetime.now(UTC), 60)
            queue.mark_rejected(connection, {rows[0].id: "bad"}, "w", datetime.now(UTC))
        settings = CentralSettings(database=DatabaseSettings(url=url))
        with TestClient(
            create_app(settings, engine=engine),
            base_url="http://localhost",
            headers=login_headers(url),
        ) as client:
            status = client.get("/api/relay").json()
            [target] = status["targets"]
            assert target["counts"]["rejected"] == 1
            assert target["counts"]["queued"] == 1
            assert target["oldest_undelivered_age_s"] >= 0
            by_lot = client.get("/api/relay", params={"lot": "08938500000010/L2611"}).json()
            assert by_lot["targets"][0]["lots"][0]["gtin"] == "08938500000010"
            assert client.post("/api/relay/retry", params={"target": "repo"}).json() == {
                "queued": 1
            }
    finally:
        engine.dispose()
