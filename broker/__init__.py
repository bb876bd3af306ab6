"""The contract between edge and central: topics, event models and the broker setup.

Both sides import the contract from here and nothing else is shared between them, so
this package depends only on pydantic and the standard library.
"""

from linetrace.broker.events import (
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    AckWatermark,
    BatchAnnouncement,
    ChildRead,
    ContractError,
    EventKind,
    ScanEvent,
    StationStatus,
    parse_event,
)
from linetrace.broker.topics import Channel, StationId, TopicError, parse_topic, subscription, topic

__all__ = [
    "MAX_EVENT_BYTES",
    "SCHEMA_VERSION",
    "AckWatermark",
    "BatchAnnouncement",
    "Channel",
    "ChildRead",
    "ContractError",
    "EventKind",
    "ScanEvent",
    "StationId",
    "StationStatus",
    "TopicError",
    "parse_event",
    "parse_topic",
    "subscription",
    "topic",
]
