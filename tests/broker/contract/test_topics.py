"""Topic names: building, parsing, and refusing ids that would widen or split a topic."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from linetrace.broker.contract.topics import (
    Channel,
    StationId,
    TopicError,
    parse_topic,
    subscription,
    topic,
)

PART = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}", fullmatch=True)


def test_topic_names_one_channel_of_one_station() -> None:
    station = StationId("hcm", "line-1", "st_2.a")
    assert topic(station, Channel.EVENTS) == "linetrace/v1/hcm/line-1/st_2.a/events"
    assert topic(station, Channel.ACK) == "linetrace/v1/hcm/line-1/st_2.a/ack"


def test_parse_topic_gives_back_station_and_channel() -> None:
    station, channel = parse_topic("linetrace/v1/hcm/line1/st1/status")
    assert station == StationId("hcm", "line1", "st1")
    assert channel is Channel.STATUS


@given(PART, PART, PART, st.sampled_from(list(Channel)))
def test_every_valid_topic_round_trips(site: str, line: str, name: str, channel: Channel) -> None:
    station = StationId(site, line, name)
    assert parse_topic(topic(station, channel)) == (station, channel)
    assert StationId.parse(str(station)) == station


def test_username_is_the_station_id_with_its_slashes() -> None:
    """The broker ACL substitutes it for %u, so it must be exactly the three topic levels."""
    station = StationId("hcm", "line1", "st1")
    assert station.username == "hcm/line1/st1"
    assert topic(station, Channel.EVENTS) == f"linetrace/v1/{station.username}/events"


@pytest.mark.parametrize(
    "bad",
    ["+", "#", "a+", "a#b", "a/b", "", " ", "-lead", ".hidden", "_x", "x y", "x" * 65, "ü"],
)
@pytest.mark.parametrize("position", [0, 1, 2])
def test_station_id_parts_that_could_widen_or_split_a_topic_are_refused(
    bad: str, position: int
) -> None:
    parts = ["site", "line", "station"]
    parts[position] = bad
    with pytest.raises(TopicError, match="not a valid id part"):
        StationId(*parts)


def test_longest_allowed_part_is_accepted() -> None:
    assert StationId("x" * 64, "l", "s").site == "x" * 64


@pytest.mark.parametrize("text", ["a/b", "a/b/c/d", "", "a//c", "a/b/+"])
def test_station_id_text_must_be_three_valid_parts(text: str) -> None:
    with pytest.raises(TopicError):
        StationId.parse(text)


@pytest.mark.parametrize(
    ("name", "reason"),
    [
        ("other/v1/a/b/c/events", "outside"),
        ("linetrace/v2/a/b/c/events", "outside"),
        ("linetrace/v1/a/b/events", "must be"),
        ("linetrace/v1/a/b/c/d/events", "must be"),
        ("linetrace/v1/a/b/c/orders", "unknown channel"),
        ("linetrace/v1/+/b/c/events", "not a valid id part"),
        ("linetrace/v1/a/#/c/events", "not a valid id part"),
        ("linetrace/v1/a//c/events", "not a valid id part"),
    ],
)
def test_parse_topic_refuses_what_is_not_a_station_channel(name: str, reason: str) -> None:
    with pytest.raises(TopicError, match=reason):
        parse_topic(name)


def test_subscription_covers_every_station_of_one_channel() -> None:
    assert subscription(Channel.EVENTS) == "linetrace/v1/+/+/+/events"
    assert subscription(Channel.EVENTS, shared_group="central") == (
        "$share/central/linetrace/v1/+/+/+/events"
    )
