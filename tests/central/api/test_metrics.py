"""``GET /metrics``: the ingest's counters and distributions from a real broker, and the
database's figures, parsed the way Prometheus parses them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.api.app import create_app
from linetrace.central.ingest.stats import dead_letter_class
from linetrace.central.ingest.write_batch import BatchOptions, Inbound, write_batch
from linetrace.central.relay.status import record_health
from linetrace.central.store import open_engine
from tests.central.helpers import (
    STATION,
    Publisher,
    central_settings,
    events_topic,
    make_event,
    register,
)
from tests.conditions import wait_until

OTHER = "hcm1/L1/pack-9"  # never registered: its events are dead-lettered


def samples(client: TestClient) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of one scrape, by name and labels."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    scrape: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return scrape[("linetrace_central_" + name, tuple(sorted(labels.items())))]


def test_the_ingest_counts_what_it_stored_refused_and_how_late(
    mqtt_broker: LocalBroker, database_url: str
) -> None:
    register(database_url, STATION)
    central = mqtt_broker.service("central")
    settings = central_settings(
        database_url,
        host=mqtt_broker.host,
        port=mqtt_broker.port,
        username=central.username,
        password=central.password,
    )
    observed = datetime.now(UTC) - timedelta(seconds=7)  # lag 7 s and a bit
    good = [make_event(seq, observed_at=observed).to_payload() for seq in (1, 2, 4)]
    with TestClient(create_app(settings, run_ingest=True)) as client:
        ingest = client.app.state.ingest  # type: ignore[attr-defined]
        wait_until(lambda: ingest.subscribed)
        station, other = mqtt_broker.station(STATION), mqtt_broker.station(OTHER)
        with Publisher(
            mqtt_broker.host, mqtt_broker.port, station.username, station.password
        ) as pub:
            pub.publish_all(events_topic(), [*good, good[0], b"{not json"])
        with Publisher(mqtt_broker.host, mqtt_broker.port, other.username, other.password) as pub:
            pub.publish(events_topic(OTHER), make_event(1, station=OTHER).to_payload())
        wait_until(lambda: value(samples(client), "ingest_acked_total") == 6)
        scrape = samples(client)
    assert value(scrape, "ingest_received_total") == 6
    assert value(scrape, "ingest_stored_total") == 3
    assert value(scrape, "ingest_duplicates_total") == 1
    assert value(scrape, "ingest_dead_lettered_total", reason="contract") == 1
    assert value(scrape, "ingest_dead_lettered_total", reason="unknown_station") == 1
    assert value(scrape, "ingest_dead_lettered_total", reason="database") == 0
    assert value(scrape, "broker_connected") == 1
    assert value(scrape, "ingest_queued") == 0
    assert value(scrape, "ingest_writing") == 1
    assert value(scrape, "ingest_last_commit_timestamp_seconds") > observed.timestamp()
    # Three stored events, each 7 s and a bit after its observation.
    assert value(scrape, "ingest_lag_seconds_count") == 3
    assert value(scrape, "ingest_lag_seconds_bucket", le="5.0") == 0
    assert value(scrape, "ingest_lag_seconds_bucket", le="30.0") == 3
    assert 21 <= value(scrape, "ingest_lag_seconds_sum") < 90
    assert value(scrape, "ingest_batch_seconds_count") >= 1
    assert value(scrape, "ingest_batch_seconds_bucket", le="+Inf") == value(
        scrape, "ingest_batch_seconds_count"
    )
    # seq 3 is missing: one station waits for it, one seq above its watermark.
    assert value(scrape, "stations_behind") == 1
    assert value(scrape, "seqs_above_watermark") == 2
    assert value(scrape, "database_up") == 1


def test_an_api_only_instance_exports_the_database_figures(database_url: str) -> None:
    engine = open_engine(database_url)
    now = datetime.now(UTC)
    try:
        register(database_url, STATION)
        write_batch(
            engine,
            [Inbound(events_topic(), make_event(seq).to_payload(), now) for seq in (1, 2)],
            BatchOptions(relay_targets=("portal",)),
        )
        with engine.begin() as connection:
            record_health(
                connection,
                "portal",
                breaker="open",
                consecutive_failures=4,
                error="503 from the portal",
                success=False,
                details={},
                now=now,
            )
        with TestClient(create_app(central_settings(database_url), engine=engine)) as client:
            scrape = samples(client)
    finally:
        engine.dispose()
    assert not any(name.startswith("linetrace_central_ingest_") for name, _ in scrape)
    assert value(scrape, "database_up") == 1
    assert value(scrape, "relay_undelivered", target="portal", state="queued") == 2
    assert value(scrape, "relay_undelivered", target="portal", state="sent") == 0
    assert 0 <= value(scrape, "relay_oldest_undelivered_age_seconds", target="portal") < 600
    assert value(scrape, "relay_breaker", target="portal", state="open") == 1
    assert value(scrape, "relay_breaker", target="portal", state="closed") == 0
    assert value(scrape, "relay_consecutive_failures", target="portal") == 4


@pytest.mark.parametrize(
    ("reason", "expected"),
    [
        ("unknown station hcm1/L1/x: register it", "unknown_station"),
        ("station hcm1/L1/x is disabled: enable it", "disabled_station"),
        ("the message could not be checked: RecursionError", "unchecked"),
        ("the database refused the event: value too long", "database"),
        ("payload is not JSON: Expecting value at position 0", "contract"),
    ],
)
def test_dead_letter_reasons_fall_into_classes(reason: str, expected: str) -> None:
    assert dead_letter_class(reason) == expected


def test_a_scrape_without_a_database_says_so(tmp_path: Path) -> None:
    settings = central_settings(f"sqlite:///{tmp_path / 'never-migrated.db'}")
    with TestClient(create_app(settings)) as client:
        scrape = samples(client)
    assert value(scrape, "database_up") == 0
    # Nothing from the database; only this process's own figures (no live stream yet).
    assert {name for name, _ in scrape if "_live_" not in name} == {"linetrace_central_database_up"}
    assert all(v == 0 for (name, _), v in scrape.items() if "_live_" in name)
