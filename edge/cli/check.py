"""``linetrace edge check``: can this station run? Each precondition, ok or FAILED with why.

Run before enabling the service or after changing its config: it reads the same config
the agent reads and tries each part once (the config, one frame from the source, the
outbox file, a broker login, what central has retained for the station, the metrics
port), so a wrong path, camera, password or port shows up here with the key to fix
instead of in the agent's log at 3 a.m. A box with several ``[[cameras]]`` is checked
camera by camera.
"""

from __future__ import annotations

import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from pydantic import ValidationError

from linetrace.broker.contract.messages import AckWatermark, BatchAnnouncement
from linetrace.broker.contract.topics import Channel, topic
from linetrace.edge.box_config import load_stations
from linetrace.edge.camera.frame_source import SourceError
from linetrace.edge.camera.sources import open_source
from linetrace.edge.config import EdgeConfig, default_client_id
from linetrace.edge.delivery.mqtt_link import check_broker, read_retained
from linetrace.edge.delivery.outbox import Outbox, OutboxError
from linetrace.errors import BrokerError, ConfigError

__all__ = [
    "Finding",
    "check_broker_login",
    "check_central",
    "check_metrics",
    "check_outbox",
    "check_source",
    "run_checks",
]


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name:<7} {'ok' if self.ok else 'FAILED':<6}  {self.detail}"


def run_checks(config_path: Path | None, out: TextIO = sys.stdout) -> int:
    """Print one line per check as it finishes; 0 when every check passed, else 1.

    A box with several ``[[cameras]]`` gets every check once per camera's station, each
    under a line naming the station.
    """
    try:
        stations, _ = load_stations(config_path)
    except ConfigError as exc:
        print(Finding("config", False, str(exc)).line(), file=out, flush=True)
        print("(source, outbox and broker not checked without a valid config)", file=out)
        return 1
    origin = str(config_path) if config_path is not None else "environment"
    names = ", ".join(str(config.station.id) for config in stations)
    what = f"station {names}" if len(stations) == 1 else f"{len(stations)} cameras: {names}"
    findings = [Finding("config", True, f"{origin}: {what}")]
    print(findings[0].line(), file=out, flush=True)
    for config in stations:
        if len(stations) > 1:
            print(f"{config.station.id}:", file=out, flush=True)
        findings += _station_checks(config, out)
    return 0 if all(finding.ok for finding in findings) else 1


def _station_checks(config: EdgeConfig, out: TextIO) -> list[Finding]:
    """One station's checks, each printed as it finishes."""
    checks: list[Callable[[EdgeConfig], Finding]] = [
        check_source,
        check_outbox,
        check_broker_login,
        check_central,
        check_metrics,
    ]
    findings: list[Finding] = []
    for check in checks:
        if check is check_central and not findings[-1].ok:
            finding = Finding("central", False, "not checked without a broker login")
        else:
            finding = check(config)
        findings.append(finding)
        print(finding.line(), file=out, flush=True)
    return findings


def check_source(config: EdgeConfig) -> Finding:
    """The source opens and yields a frame."""
    try:
        with open_source(config.source.spec, utc_offset=config.station.tz) as source:
            frame = next(source, None)
    except SourceError as exc:
        return Finding("source", False, str(exc))
    if frame is None:
        return Finding("source", False, f"{source.description} opened but gave no frame")
    height, width = frame.image.shape[:2]
    return Finding("source", True, f"{source.description}: {width}x{height} frames")


def check_outbox(config: EdgeConfig) -> Finding:
    """The outbox file opens for writing (it is created when missing)."""
    station = config.station.id
    try:
        with Outbox(config.outbox.path, station, capacity=config.outbox.capacity) as outbox:
            fill = outbox.fill or 0.0
            detail = (
                f"{config.outbox.path}: {outbox.depth()} events waiting, "
                f"last seq {outbox.last_seq}, capacity {config.outbox.capacity} "
                f"({100 * fill:.0f}% full)"
            )
    except OutboxError as exc:
        return Finding("outbox", False, str(exc))
    if fill >= config.outbox.alarm_at:
        return Finding("outbox", False, f"{detail}: past its alarm level; is central confirming?")
    return Finding("outbox", True, detail)


def check_broker_login(config: EdgeConfig) -> Finding:
    """The broker is reachable and accepts the station's credentials."""
    mqtt = config.mqtt
    # Its own client id: logging in with the agent's would disconnect a running agent.
    client_id = f"{mqtt.client_id or default_client_id(config.station.id)}-check"
    try:
        check_broker(mqtt, client_id)
    except BrokerError as exc:
        return Finding("broker", False, str(exc))
    scheme = "mqtts" if mqtt.tls else "mqtt"
    return Finding("broker", True, f"{scheme}://{mqtt.host}:{mqtt.port} accepted {mqtt.username}")


def check_central(config: EdgeConfig) -> Finding:
    """What central retains for the station: its watermark fits this outbox; the batch."""
    station = config.station.id
    ack_topic, batch_topic = topic(station, Channel.ACK), topic(station, Channel.BATCH)
    client_id = f"{config.mqtt.client_id or default_client_id(station)}-check"
    try:
        retained = read_retained(config.mqtt, client_id, [ack_topic, batch_topic])
        with Outbox(config.outbox.path, station, capacity=config.outbox.capacity) as outbox:
            last_seq = outbox.last_seq
    except (BrokerError, OutboxError) as exc:
        return Finding("central", False, str(exc))
    try:
        watermark = _watermark(retained.get(ack_topic))
        batch = _batch(retained.get(batch_topic))
    except ValidationError as exc:
        return Finding("central", False, f"unreadable retained message: {exc.errors()[0]}")
    if watermark is not None and watermark > last_seq:
        return Finding(
            "central",
            False,
            f"central confirms up to seq {watermark} but this outbox's last seq is {last_seq}: "
            "the outbox was replaced; new events would be deleted unsent",
        )
    confirmed = (
        f"confirms up to seq {watermark} of {last_seq}"
        if watermark is not None
        else "has confirmed no event of this station yet"
    )
    announced = (
        f"batch {batch.batch_id} (GTIN {batch.gtin}, lot {batch.lot})"
        if batch is not None
        else "no batch announced"
    )
    return Finding("central", True, f"{confirmed}; {announced}")


def _watermark(payload: bytes | None) -> int | None:
    return AckWatermark.model_validate_json(payload).seq if payload else None


def _batch(payload: bytes | None) -> BatchAnnouncement | None:
    return BatchAnnouncement.model_validate_json(payload) if payload else None


def check_metrics(config: EdgeConfig) -> Finding:
    """The metrics port, when one is set, is free to listen on."""
    port, bind = config.metrics.port, config.metrics.bind
    if port is None:
        return Finding("metrics", True, "off (metrics.port is unset)")
    try:
        with socket.create_server((bind, port)):
            pass
    except OSError as exc:
        return Finding("metrics", False, f"cannot listen on {bind}:{port}: {exc.strerror}")
    return Finding("metrics", True, f"http://{bind}:{port}/metrics is free to serve")
