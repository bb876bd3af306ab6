"""``linetrace edge drain``: send what is left in the outbox and wait until central has it.

Before a line PC is replaced, re-imaged or switched off for long, its outbox should be
empty: every event central has not confirmed lives only there. This verb delivers it
with the agent's own publisher (same broker login, same resend rules) without a camera,
and exits 0 once central's ``ack`` watermark covers every stored event and the outbox is
empty, or 1 after ``--timeout`` with the count still left, which stays in the outbox.

Run it with the agent stopped: both log in as the station, and the broker keeps only one
connection per station login (the other is disconnected, again and again).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TextIO

from linetrace.edge.config import EdgeConfig, default_client_id, load_config
from linetrace.edge.delivery.link_state import PublisherStats
from linetrace.edge.delivery.outbox import Outbox, OutboxError
from linetrace.edge.delivery.publisher import Publisher
from linetrace.errors import BrokerError, ConfigError

__all__ = ["EXIT_CONFIG", "EXIT_LEFT", "EXIT_OK", "run_drain"]

EXIT_OK = 0
EXIT_LEFT = 1  # timed out (or could not deliver): events are left in the outbox
EXIT_CONFIG = 2


def run_drain(config_path: Path | None, timeout_s: float, out: TextIO = sys.stdout) -> int:
    """Deliver the outbox of the station ``config_path`` describes; see the module docstring."""
    try:
        config = load_config(config_path)
    except ConfigError as exc:
        print(f"config: {exc}", file=out)
        return EXIT_CONFIG
    try:
        with Outbox(
            config.outbox.path, config.station.id, capacity=config.outbox.capacity
        ) as outbox:
            return _drain(config, outbox, timeout_s, out)
    except (OutboxError, BrokerError) as exc:
        print(f"not drained: {exc}", file=out)
        return EXIT_LEFT


def _drain(config: EdgeConfig, outbox: Outbox, timeout_s: float, out: TextIO) -> int:
    depth = outbox.depth()
    if depth == 0:
        print(f"outbox {outbox.path} is empty: nothing to send", file=out)
        return EXIT_OK
    print(
        f"sending {depth} events (up to seq {outbox.last_seq}) from {outbox.path} to "
        f"{config.mqtt.host}:{config.mqtt.port}; waiting up to {timeout_s:g} s for central",
        file=out,
        flush=True,
    )
    publisher = Publisher(
        outbox,
        config.mqtt,
        client_id=config.mqtt.client_id or default_client_id(config.station.id),
        tz=config.station.tz,
        resend_timeout_s=config.delivery.resend_timeout_s,
    )
    publisher.start()
    try:
        drained = publisher.wait_drained(timeout_s)
    finally:
        publisher.stop()
    stats = publisher.stats
    left = outbox.depth()
    if drained and left == 0:
        print(
            f"drained: central confirmed every event (watermark {stats.watermark}); "
            f"{stats.covered} deleted, outbox empty",
            file=out,
        )
        return EXIT_OK
    print(
        f"timed out after {timeout_s:g} s: {left} events left in {outbox.path} "
        f"(last stored seq {outbox.last_seq}, central's watermark {stats.watermark}; "
        f"{_why(stats)}); they stay there for the agent or the next drain",
        file=out,
    )
    return EXIT_LEFT


def _why(stats: PublisherStats) -> str:
    """The likeliest reason nothing (more) was confirmed, from the publisher's counters."""
    if not stats.connects:
        return "no broker connection was accepted: check `linetrace edge check`"
    if stats.rejected:
        return f"the broker refused {stats.rejected} events (check its ACL)"
    if stats.unrouted:
        return f"nobody was subscribed for {stats.unrouted} events (is central running?)"
    return f"{stats.acknowledged} taken by the broker, {stats.covered} confirmed by central"
