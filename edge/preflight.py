"""``linetrace edge check``: can this station run? Each precondition, ok or FAILED with why.

Run before enabling the service or after changing its config: it reads the same config
the agent reads and tries each part once (the config, one frame from the source, the
outbox file, a broker login), so a wrong path, camera or password shows up here with the
key to fix instead of in the agent's log at 3 a.m.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from linetrace.edge.config import ConfigError, EdgeConfig, default_client_id, load_config
from linetrace.edge.outbox import Outbox, OutboxError
from linetrace.edge.publish import BrokerError, check_broker
from linetrace.edge.sources import SourceError, open_source

__all__ = ["Finding", "check_broker_login", "check_outbox", "check_source", "run_checks"]


@dataclass(frozen=True, slots=True)
class Finding:
    """The outcome of one check."""

    name: str
    ok: bool
    detail: str

    def line(self) -> str:
        return f"{self.name:<7} {'ok' if self.ok else 'FAILED':<6}  {self.detail}"


def run_checks(config_path: Path | None, out: TextIO = sys.stdout) -> int:
    """Print one line per check as it finishes; 0 when every check passed, else 1."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(Finding("config", False, str(exc)).line(), file=out, flush=True)
        print("(source, outbox and broker not checked without a valid config)", file=out)
        return 1
    origin = str(config_path) if config_path is not None else "environment"
    findings = [Finding("config", True, f"{origin}: station {config.station.id}")]
    print(findings[0].line(), file=out, flush=True)
    checks: list[Callable[[EdgeConfig], Finding]] = [
        check_source,
        check_outbox,
        check_broker_login,
    ]
    for check in checks:
        finding = check(config)
        findings.append(finding)
        print(finding.line(), file=out, flush=True)
    return 0 if all(finding.ok for finding in findings) else 1


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
            detail = (
                f"{config.outbox.path}: {outbox.depth()} events waiting, "
                f"last seq {outbox.last_seq}, capacity {config.outbox.capacity}"
            )
    except OutboxError as exc:
        return Finding("outbox", False, str(exc))
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
