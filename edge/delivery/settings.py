"""The delivery stage's settings sections: ``[outbox]``, ``[delivery]``, ``[status]`` and
``[metrics]`` (``[mqtt]`` is the shared :class:`~linetrace.broker.client.MqttSettings`).

The module imports nothing heavy, so the edge's configuration can be loaded and checked
without paho, SQLite or the Prometheus client.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from linetrace.settings import Section

__all__ = [
    "DeliveryConfig",
    "MetricsConfig",
    "OutboxConfig",
    "StatusConfig",
]


class OutboxConfig(Section):
    """The durable store of events not yet confirmed delivered."""

    path: Path = Field(
        default=Path("state/edge-outbox.db"),
        description="SQLite file of the outbox (relative paths are from the working directory); "
        "put it on persistent storage.",
    )
    # 500 000 events of about 650 bytes on disk (a GS1 DataMatrix read, measured) is about
    # 330 MB, and at 20 items/s it is about 7 hours of line output with the broker away.
    capacity: int = Field(
        default=500_000,
        ge=1,
        description="Most events the outbox holds; past it new events are refused and counted "
        "as lost, so size it for the longest outage to ride out.",
    )
    # At 80 % of the default capacity about 1.4 hours of line output still fit: time for
    # someone to bring the broker or central back before events are lost.
    alarm_at: float = Field(
        default=0.8,
        gt=0.0,
        le=1.0,
        description="Share of the capacity at which the outbox raises its alarm (a "
        "warning in the log, a flag in the status message and a metric).",
    )


class DeliveryConfig(Section):
    """When events central has not confirmed are sent again."""

    # Central confirms within about a second and a restarting central within seconds
    # more, so a healthy line never resends; an event a broker lost (restarted empty,
    # dropped a full queue) still reaches central within half a minute.
    resend_timeout_s: float = Field(
        default=30.0,
        ge=1.0,
        le=3600.0,
        description="Seconds an event the broker took may stay uncovered by central's "
        "ack watermark before it is sent again (same event_id; central drops duplicates).",
    )


class StatusConfig(Section):
    """The retained status message on the station's status topic."""

    # Five seconds shows a stalled camera or a growing outbox on a dashboard within a few
    # seconds, and is 0.2 small messages per second per station: nothing to a broker.
    interval_s: float = Field(
        default=5.0,
        ge=1.0,
        le=300.0,
        description="Seconds between status messages (figures: fps, read rate, outbox, "
        "watermark, decode margin, ...); the broker keeps the latest.",
    )


class MetricsConfig(Section):
    """The Prometheus endpoint (off unless a port is set)."""

    # Off by default: every figure reaches central in the status message anyway, a box
    # often runs one agent per camera (a fixed default port would collide on the second),
    # and opening a port is a decision for whoever runs the box.
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description="TCP port of the Prometheus metrics endpoint (/metrics), e.g. 9108; "
        "unset: no endpoint.",
    )
    bind: str = Field(
        default="127.0.0.1",
        description="Address the endpoint listens on: 127.0.0.1 for a scraper on the same "
        "box; 0.0.0.0 (all interfaces) only on a trusted network.",
    )
