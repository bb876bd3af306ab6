"""Where the cores go: CPU time per party, and the phase a timed run is reported as.

Central's CPU is this process's plus its receiver process's; the broker's and the
receiver's come from /proc, so the meters work on Linux only.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path

from harness.broker import BenchBroker
from linetrace.central.ingest.service import Ingest

__all__ = ["Meter", "Phase", "process_cpu_s"]


def process_cpu_s(pid: int) -> float:
    """CPU seconds (user + system) a process has used so far, from /proc/PID/stat."""
    # Fields 14 and 15 (utime, stime); the command name before them may contain spaces.
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Phase:
    """One timed phase: how many events, how long, and the CPU each party spent on them."""

    events: int
    seconds: float
    central_s: float  # central's processes, both (the no-op consumer's in the raw phase)
    broker_s: float
    generator_s: float | None  # None: no publisher ran while this phase was timed
    receiver_s: float | None = None  # of central_s, the receiver process's part

    @property
    def rate(self) -> float:
        return self.events / self.seconds

    def cpu(self, consumer: str = "central") -> str:
        """Each party's CPU per event and the cores it kept busy."""
        parties = [(consumer, self.central_s), ("broker", self.broker_s)]
        if self.generator_s is not None:
            parties.append(("generator", self.generator_s))
        shown = ", ".join(
            f"{name} {spent / self.events * 1e6:.0f} ({spent / self.seconds:.2f})"
            for name, spent in parties
        )
        if self.receiver_s is not None:
            writer_s = self.central_s - self.receiver_s
            shown += (
                f"; of central: writer process {writer_s / self.events * 1e6:.0f}, "
                f"receiver process {self.receiver_s / self.events * 1e6:.0f}"
            )
        return f"  CPU µs/event (cores busy): {shown}"


class Meter:
    """CPU time of central (this process and its receiver child) and of the broker."""

    def __init__(self, broker: BenchBroker, central: Ingest | None = None) -> None:
        self._pid = broker.pid
        self._central = self._broker = 0.0
        # Set before phase() when central starts after start(), as in the drain run.
        self.ingest = central
        self._receiver: tuple[int, float] | None = None

    def start(self) -> None:
        self._central = time.process_time()
        self._broker = process_cpu_s(self._pid)
        pid = self.ingest.receiver_pid if self.ingest is not None else None
        self._receiver = (pid, process_cpu_s(pid)) if pid is not None else None

    def _receiver_s(self) -> float | None:
        """The receiver's CPU since start(), all of it if it started since."""
        pid = self.ingest.receiver_pid if self.ingest is not None else None
        if pid is None:
            return None
        spent = process_cpu_s(pid)
        if self._receiver is not None and self._receiver[0] == pid:
            spent -= self._receiver[1]
        return spent

    def phase(self, events: int, seconds: float, generator_s: float | None) -> Phase:
        receiver_s = self._receiver_s()
        central_s = time.process_time() - self._central + (receiver_s or 0.0)
        broker_s = process_cpu_s(self._pid) - self._broker
        return Phase(events, seconds, central_s, broker_s, generator_s, receiver_s)
