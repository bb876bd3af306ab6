"""The contract between edge and central: topics, the messages on them, their JSON Schema.

This is the only code edge and central share, so it depends only on pydantic and the
standard library. In: nothing but bytes and topic names. Out: validated messages
(:class:`ScanEvent`, :class:`StationStatus`, :class:`AckWatermark`,
:class:`BatchAnnouncement`) or a :class:`~linetrace.errors.ContractError` with the reason.
"""

from linetrace.broker.contract.messages import (
    MAX_EVENT_BYTES,
    SCHEMA_VERSION,
    AckWatermark,
    BatchAnnouncement,
    ChildRead,
    EventKind,
    ScanEvent,
    StationStatus,
    parse_event,
)
from linetrace.broker.contract.topics import (
    Channel,
    StationId,
    TopicError,
    parse_topic,
    subscription,
    topic,
)
from linetrace.errors import ContractError

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
