"""Topic names: ``linetrace/v1/{site}/{line}/{station}/{channel}``.

Station ids become topic levels and ACL patterns, so a part that could widen a
subscription (``+``, ``#``), split a level (``/``) or be empty is refused here, once,
instead of at every place that builds a topic.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from linetrace.errors import ContractError

PREFIX = "linetrace/v1"
SHARED_GROUP = "central"

# Letters, digits, '-', '_' and '.': safe as a topic level, a file name and a broker user.
_PART = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class TopicError(ContractError):
    """A station id or topic that does not fit the topic scheme."""


class Channel(StrEnum):
    """The last topic level: what flows on it and in which direction."""

    EVENTS = "events"  # edge -> central, scan events, QoS 1
    STATUS = "status"  # edge -> central, retained; the last will says offline
    BATCH = "batch"  # central -> edge, retained: the production batch being packed
    ACK = "ack"  # central -> edge, retained: highest contiguous committed seq


@dataclass(frozen=True, order=True, slots=True)
class StationId:
    """One scanning station, addressed as ``site/line/station``."""

    site: str
    line: str
    station: str

    def __post_init__(self) -> None:
        for name in ("site", "line", "station"):
            value = getattr(self, name)
            if not isinstance(value, str) or not _PART.match(value):
                raise TopicError(
                    f"{name} {value!r} is not a valid id part: use 1-64 letters, digits, "
                    "'-', '_' or '.', starting with a letter or digit (no '+', '#', '/')"
                )

    @classmethod
    def parse(cls, text: str) -> StationId:
        """Read ``SITE/LINE/STATION``."""
        parts = text.split("/")
        if len(parts) != 3:
            raise TopicError(f"station id {text!r} must be SITE/LINE/STATION")
        return cls(*parts)

    @property
    def username(self) -> str:
        """The broker user name of this station: its id, ``SITE/LINE/STATION``.

        Mosquitto puts it verbatim in place of ``%u`` in the ACL patterns, where it becomes
        exactly this station's three topic levels (a part holds no '/', '+' or '#').
        """
        return str(self)

    def __str__(self) -> str:
        return f"{self.site}/{self.line}/{self.station}"


def topic(station: StationId, channel: Channel) -> str:
    """The topic of one station's channel."""
    return f"{PREFIX}/{station}/{channel}"


def parse_topic(name: str) -> tuple[StationId, Channel]:
    """Split a concrete topic back into its station and channel."""
    if not name.startswith(PREFIX + "/"):
        raise TopicError(f"topic {name!r} is outside {PREFIX}/")
    parts = name[len(PREFIX) + 1 :].split("/")
    if len(parts) != 4:
        raise TopicError(f"topic {name!r} must be {PREFIX}/SITE/LINE/STATION/CHANNEL")
    try:
        channel = Channel(parts[3])
    except ValueError:
        raise TopicError(f"topic {name!r} has unknown channel {parts[3]!r}") from None
    return StationId(*parts[:3]), channel


def subscription(channel: Channel, *, shared_group: str | None = None) -> str:
    """A filter for one channel of every station, optionally as an MQTT v5 shared subscription.

    A shared subscription lets several central instances split the events between them.
    """
    pattern = f"{PREFIX}/+/+/+/{channel}"
    return f"$share/{shared_group}/{pattern}" if shared_group else pattern
