"""No-read pictures go by age and by total size, oldest first; the events stay."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa
from sqlalchemy.engine import Engine

from linetrace.central.config import ImagesSettings
from linetrace.central.ingest.write_batch import Inbound, write_batch
from linetrace.central.store import events, noread_images
from linetrace.central.store.image_pruner import ImagePruner
from linetrace.central.store.images import prune_images
from tests.central.central_main import main
from tests.central.helpers import STATION, events_topic, register
from tests.central.images.helpers import jpeg, noread
from tests.conditions import wait_until

NOW = datetime(2025, 3, 31, 1, 0, tzinfo=UTC)


@pytest.fixture
def engine(engine: Engine, database_url: str) -> Engine:
    register(database_url, STATION)
    return engine


def store_days_ago(engine: Engine, *days: float, now: datetime = NOW) -> list[int]:
    """One no-read received ``d`` days before ``now`` for each ``d``; their picture sizes."""
    sizes = []
    for seq, ago in enumerate(days, start=1):
        picture = jpeg(shade=10 * seq)
        sizes.append(len(picture))
        message = Inbound(events_topic(), noread(seq, picture).to_payload(), now - timedelta(ago))
        assert write_batch(engine, [message]).images_stored == 1
    return sizes


def kept(engine: Engine, now: datetime = NOW) -> list[int]:
    """The days-ago of the pictures kept, oldest first."""
    with engine.connect() as connection:
        received = connection.execute(
            sa.select(noread_images.c.received_at).order_by(noread_images.c.received_at)
        ).scalars()
        return [(now - when).days for when in received]


def count_events(engine: Engine) -> int:
    with engine.connect() as connection:
        return int(connection.execute(sa.select(sa.func.count()).select_from(events)).scalar_one())


def test_pictures_older_than_keep_days_go(engine: Engine) -> None:
    store_days_ago(engine, 40, 31, 29, 1)
    with engine.begin() as connection:
        done = prune_images(connection, now=NOW, keep_days=30, max_total_bytes=10**9)
    assert (done.expired, done.over_size, done.kept) == (2, 0, 2)
    assert kept(engine) == [29, 1]
    assert count_events(engine) == 4  # the events themselves are never touched


def test_past_the_size_limit_the_oldest_go_first(engine: Engine) -> None:
    sizes = store_days_ago(engine, 5, 4, 3, 2, 1)
    limit = sum(sizes[-2:])  # room for exactly the two newest
    with engine.begin() as connection:
        done = prune_images(connection, now=NOW, keep_days=30, max_total_bytes=limit)
    assert (done.expired, done.over_size, done.kept) == (0, 3, 2)
    assert done.freed_bytes == sum(sizes[:3])
    assert done.kept_bytes == limit
    assert kept(engine) == [2, 1]


def test_the_cli_prunes_with_the_config_or_its_options(
    engine: Engine,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store_days_ago(engine, 3, 2, 0.5, now=datetime.now(UTC))
    monkeypatch.setenv("LINETRACE_CENTRAL_DATABASE__URL", database_url)
    assert main(["central", "retention", "images"]) == 0
    assert json.loads(capsys.readouterr().out)["kept"] == 3  # well within the defaults
    assert main(["central", "retention", "images", "--max-total-mb", "1", "--keep-days", "1"]) == 0
    report = json.loads(capsys.readouterr().out)
    assert (report["expired"], report["kept"]) == (2, 1)  # 3 and 2 days old: past a day


def test_central_run_prunes_on_a_timer(engine: Engine) -> None:
    now = datetime.now(UTC)
    store_days_ago(engine, 2, 0.1, now=now)
    pruner = ImagePruner(engine, ImagesSettings(keep_days=1, prune_interval_s=60)).start()
    try:
        wait_until(lambda: kept(engine, now) == [0], message="old pictures were not pruned")
    finally:
        pruner.stop()
