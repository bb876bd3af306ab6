"""``linetrace edge drain``: send what is left in the outbox and wait until central has it.

Before a line PC is replaced, re-imaged or switched off for long, its outbox should be
empty: every event central has not confirmed lives only there. This verb delivers it
with the agent's own publisher (same broker login, same resend rules) without a camera,
and exits 0 once central's ``ack`` watermark covers every stored event and the outbox is
empty, or 1 after ``--timeout`` with the count still left, which stays in the outbox.

Run it with the agent stopped: both log in as the station, and the broker keeps only one
connection per station login (the other is disconnected, again and again).

A box with several ``[[cameras]]`` drains every camera's outbox at once, each with its
own station's login, within the one ``--timeout``; each line names its station, and the
exit status is the worst of theirs.
"""

from __future__ import annotations

import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

from linetrace.edge.box_config import load_stations
from linetrace.edge.config import EdgeConfig, default_client_id
from linetrace.edge.delivery.link_state import PublisherStats
from linetrace.edge.delivery.outbox import Outbox, OutboxError
from linetrace.edge.delivery.publisher import Publisher
from linetrace.errors import BrokerError, ConfigError

__all__ = ["EXIT_CONFIG", "EXIT_LEFT", "EXIT_OK", "run_drain"]

EXIT_OK = 0
EXIT_LEFT = 1  # timed out (or could not deliver): events are left in the outbox
EXIT_CONFIG = 2


def run_drain(config_path: Path | None, timeout_s: float, out: TextIO = sys.stdout) -> int:
    """Deliver the outbox of each station ``config_path`` describes (every camera of a
    ``[[cameras]]`` box, all at once, within one ``timeout_s``); see the module docstring."""
    try:
        stations, _ = load_stations(config_path)
    except ConfigError as exc:
        print(f"config: {exc}", file=out)
        return EXIT_CONFIG
    deadline = time.monotonic() + timeout_s
    named = len(stations) > 1
    with ExitStack() as stack:
        drains: list[_Drain] = []
        for config in stations:
            say = _Printer(out, f"{config.station.id}: " if named else "")
            try:
                outbox = stack.enter_context(
                    Outbox(config.outbox.path, config.station.id, capacity=config.outbox.capacity)
                )
                drains.append(_Drain(config, outbox, say))
            except OutboxError as exc:
                say(f"not drained: {exc}")
                drains.append(_Drain(config, None, say))
        for drain in drains:
            stack.callback(drain.stop)
            drain.start(timeout_s)
        codes = [drain.finish(deadline, timeout_s) for drain in drains]
    return max(codes)


@dataclass(frozen=True, slots=True)
class _Printer:
    """Lines of one station's drain, named by its station where a box has several."""

    out: TextIO
    prefix: str

    def __call__(self, text: str) -> None:
        print(f"{self.prefix}{text}", file=self.out, flush=True)


class _Drain:
    """One station's delivery: started with the others, then waited for in turn."""

    def __init__(self, config: EdgeConfig, outbox: Outbox | None, say: _Printer) -> None:
        self._config, self._outbox, self._say = config, outbox, say
        self._publisher: Publisher | None = None
        self._stopped = False

    def start(self, timeout_s: float) -> None:
        config, outbox = self._config, self._outbox
        if outbox is None or outbox.depth() == 0:
            if outbox is not None:
                self._say(f"outbox {outbox.path} is empty: nothing to send")
            return
        self._say(
            f"sending {outbox.depth()} events (up to seq {outbox.last_seq}) from {outbox.path} "
            f"to {config.mqtt.host}:{config.mqtt.port}; waiting up to {timeout_s:g} s for "
            "central"
        )
        try:
            self._publisher = Publisher(
                outbox,
                config.mqtt,
                client_id=config.mqtt.client_id or default_client_id(config.station.id),
                tz=config.station.tz,
                resend_timeout_s=config.delivery.resend_timeout_s,
            )
            self._publisher.start()
        except BrokerError as exc:
            self._publisher, self._outbox = None, None
            self._say(f"not drained: {exc}")

    def finish(self, deadline: float, timeout_s: float) -> int:
        """Wait (until ``deadline``) for central to confirm; report; the exit status."""
        outbox, publisher = self._outbox, self._publisher
        if outbox is None:
            return EXIT_LEFT
        if publisher is None:
            return EXIT_OK  # it was empty
        drained = publisher.wait_drained(max(0.0, deadline - time.monotonic()))
        self.stop()
        stats = publisher.stats
        left = outbox.depth()
        if drained and left == 0:
            self._say(
                f"drained: central confirmed every event (watermark {stats.watermark}); "
                f"{stats.covered} deleted, outbox empty"
            )
            return EXIT_OK
        self._say(
            f"timed out after {timeout_s:g} s: {left} events left in {outbox.path} "
            f"(last stored seq {outbox.last_seq}, central's watermark {stats.watermark}; "
            f"{_why(stats)}); they stay there for the agent or the next drain"
        )
        return EXIT_LEFT

    def stop(self) -> None:
        """Stop the publisher (once): what central has not covered stays in the outbox."""
        if self._publisher is not None and not self._stopped:
            self._stopped = True
            self._publisher.stop()


def _why(stats: PublisherStats) -> str:
    """The likeliest reason nothing (more) was confirmed, from the publisher's counters."""
    if not stats.connects:
        return "no broker connection was accepted: check `linetrace edge check`"
    if stats.rejected:
        return f"the broker refused {stats.rejected} events (check its ACL)"
    if stats.unrouted:
        return f"nobody was subscribed for {stats.unrouted} events (is central running?)"
    return f"{stats.acknowledged} taken by the broker, {stats.covered} confirmed by central"
