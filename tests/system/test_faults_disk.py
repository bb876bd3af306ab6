"""The disk under central's SQLite database fills up while events flow, and is freed again.

Real processes: Mosquitto, ``central run`` and a station publishing over MQTT. The
database lives on a small filesystem of its own:

* ``tmpfs``: a size-limited tmpfs mounted for the test (needs root and mount rights), filled
  with a file until the kernel answers ENOSPC, freed by deleting that file;
* ``rlimit``: where mounting is impossible, RLIMIT_FSIZE on the running central process
  (``prlimit``) makes every write past the files' current sizes fail with EFBIG, and
  lifting the limit frees the "disk". Set ``LINETRACE_TEST_DISK_FILL=rlimit`` to force it.

While writes fail central must not crash, acknowledge nothing it did not commit, dead-letter
nothing as bad, and say on ``/healthz`` that it is degraded because the disk is full. It is
stopped and started again while the disk is full (the broker's persistent session keeps
what it did not acknowledge); once space is back it stores every event exactly once.
"""

from __future__ import annotations

import contextlib
import errno
import os
import resource
import subprocess
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
import sqlalchemy as sa
import tomli_w

from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.central.store import events, open_engine
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv, stop_all
from tests.central.helpers import Publisher, events_topic, make_event
from tests.conditions import wait_until

pytestmark = [pytest.mark.system, pytest.mark.slow]

STATION = "hcm1/L1/pack-1"
# Room for the schema, a few thousand events and the WAL; small enough to fill in a blink.
FILESYSTEM_MB = 24
# Events per round while filling: a round is stored in well under a second.
ROUND = 200
# A WAL file already grown is rewritten in place after a checkpoint, which needs no new
# space, so a few rounds may still be stored after the disk is full; this bounds them.
MAX_ROUNDS = 40
START_TIMEOUT_S = 60.0
STORE_TIMEOUT_S = 30.0


@dataclass
class SmallDisk:
    """Where the database goes, and how to fill and free the space under it."""

    method: str
    folder: Path
    fill: Callable[[int], None]  # central's pid
    free: Callable[[int], None]
    # rlimit: the file size limit a central started while the disk is "full" inherits.
    limit: int | None = None


def _fill_with_file(filler: Path) -> None:
    """Write ``filler`` until the filesystem refuses: ENOSPC, the disk is full."""
    with filler.open("ab", buffering=0) as out:
        for chunk in (1 << 20, 1 << 16, 1 << 12):
            block = b"\0" * chunk
            with contextlib.suppress(OSError):
                while True:
                    out.write(block)
    with pytest.raises(OSError, match="No space left") as refused:
        _append(filler, b"\0" * 4096)
    assert refused.value.errno == errno.ENOSPC


def _append(path: Path, data: bytes) -> None:
    with path.open("ab", buffering=0) as out:
        out.write(data)


def _tmpfs(folder: Path) -> SmallDisk | None:
    if os.geteuid() != 0:
        return None
    folder.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={FILESYSTEM_MB}m,mode=0700", "linetrace", folder],
        capture_output=True,
        check=False,
    )
    if mounted.returncode != 0:
        return None
    filler = folder / "filler"
    return SmallDisk(
        "tmpfs",
        folder,
        fill=lambda _pid: _fill_with_file(filler),
        free=lambda _pid: filler.unlink(),
    )


def _rlimit(folder: Path) -> SmallDisk:
    """No bigger file for central from now on: writes past the current ends fail (EFBIG)."""
    folder.mkdir(exist_ok=True)

    def fill(pid: int) -> None:
        # The largest database file now; the log file may pass it and lose lines meanwhile.
        if disk.limit is None:
            disk.limit = max(path.stat().st_size for path in folder.iterdir())
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (disk.limit, resource.RLIM_INFINITY))

    def free(pid: int) -> None:
        disk.limit = None
        resource.prlimit(pid, resource.RLIMIT_FSIZE, (resource.RLIM_INFINITY,) * 2)

    disk = SmallDisk("rlimit", folder, fill, free)
    return disk


@contextlib.contextmanager
def _file_size_limit(limit: int | None) -> Iterator[None]:
    """Children started meanwhile inherit ``limit`` (none: nothing changes)."""
    if limit is None:
        yield
        return
    before = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (limit, before[1]))
    try:
        yield
    finally:
        resource.setrlimit(resource.RLIMIT_FSIZE, before)


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[SmallDisk]:
    folder = tmp_path / "small"
    forced = os.environ.get("LINETRACE_TEST_DISK_FILL", "")
    disk = None if forced == "rlimit" else _tmpfs(folder)
    if disk is None:
        if not hasattr(resource, "prlimit"):
            pytest.skip("cannot mount a small filesystem and this system has no prlimit")
        disk = _rlimit(folder)
    print(f"disk fills by: {disk.method}")
    try:
        yield disk
    finally:
        if disk.method == "tmpfs":
            subprocess.run(["umount", "-l", str(folder)], check=False)


class Central:
    """``central run`` on the small disk's database."""

    def __init__(self, broker: LocalBroker, disk: SmallDisk, folder: Path) -> None:
        self.disk = disk
        credentials = broker.service("central")
        self.database_url = f"sqlite:///{disk.folder / 'central.db'}"
        port = free_port()
        self.api = f"http://127.0.0.1:{port}"
        self.config = folder / "central.toml"
        self.config.write_text(
            tomli_w.dumps(
                {
                    "state_dir": str(folder / "central"),
                    "database": {"url": self.database_url},
                    "mqtt": {
                        "host": broker.host,
                        "port": broker.port,
                        "username": credentials.username,
                        "password": credentials.password,
                    },
                    "api": {"host": "127.0.0.1", "port": port},
                }
            )
        )
        self.folder = folder
        self.child = self._child()

    def _child(self) -> Child:
        argv = linetrace_argv("central", "run", "--config", str(self.config))
        return Child("central", argv, self.folder / "central.log")

    def start(self) -> None:
        self.child = self._child()
        with _file_size_limit(self.disk.limit):
            self.child.start()
        wait_until(self.answers, START_TIMEOUT_S, "central did not start")

    @property
    def pid(self) -> int:
        assert self.child.process is not None
        return self.child.process.pid

    def health(self) -> dict[str, Any]:
        if not self.child.running:
            raise AssertionError(f"central exited:\n{self.child.tail(40)}")
        answer: dict[str, Any] = httpx.get(f"{self.api}/healthz", timeout=5.0).json()
        return answer

    def answers(self) -> bool:
        try:
            return self.health()["ingest"]["subscribed"] is True
        except httpx.TransportError:
            return False


def _stored(database_url: str) -> list[tuple[int, uuid.UUID]]:
    engine = open_engine(database_url)
    try:
        with engine.connect() as connection:
            rows = connection.execute(sa.select(events.c.seq, events.c.event_id))
            return [(int(seq), uuid.UUID(str(event_id))) for seq, event_id in rows]
    finally:
        engine.dispose()


def test_a_full_disk_degrades_central_and_loses_nothing(
    mqtt_broker: LocalBroker, small_disk: SmallDisk, tmp_path: Path
) -> None:
    central = Central(mqtt_broker, small_disk, tmp_path)
    register = ["central", "station", "add", STATION, "--config", str(central.config)]
    subprocess.run(linetrace_argv(*register), check=True, stdout=subprocess.DEVNULL)
    station = mqtt_broker.station(STATION)
    published: list[uuid.UUID] = []

    def publish(pub: Publisher, count: int) -> None:
        first = len(published) + 1
        batch = [make_event(seq) for seq in range(first, first + count)]
        pub.publish_all(events_topic(STATION), [event.to_payload() for event in batch])
        published.extend(event.event_id for event in batch)

    try:
        central.start()
        with Publisher(
            mqtt_broker.host, mqtt_broker.port, station.username, station.password
        ) as pub:
            publish(pub, ROUND)
            wait_until(lambda: central.health()["ingest"]["stored"] == ROUND, STORE_TIMEOUT_S)

            small_disk.fill(central.pid)
            for _ in range(MAX_ROUNDS):
                publish(pub, ROUND)
                wait_until(
                    lambda: (
                        central.health()["ingest"]["stored"] == len(published)
                        or central.health()["status"] != "ok"
                    ),
                    STORE_TIMEOUT_S,
                )
                if central.health()["status"] != "ok":
                    break
            health = central.health()
            assert health["status"] == "degraded", health
            reason = health["ingest"]["store_error"] or ""
            assert ("disk is full" if small_disk.method == "tmpfs" else "disk") in reason, health
            ingest = health["ingest"]
            assert ingest["dead_lettered"] == 0, "nothing is refused as bad for want of space"
            assert ingest["acked"] <= ingest["stored"], "only committed events are acknowledged"
            assert ingest["stored"] < len(published)

            # Stopped and started again on the full disk: a clean stop, a clean start, and
            # the broker still holds what was not acknowledged.
            assert central.child.stop() == 0, central.child.tail(40)
            central.start()
            small_disk.fill(central.pid)
            wait_until(
                lambda: central.health()["ingest"]["store_error"] is not None, STORE_TIMEOUT_S
            )
            assert central.health()["ingest"]["dead_lettered"] == 0

            small_disk.free(central.pid)
            wait_until(lambda: central.health()["status"] == "ok", STORE_TIMEOUT_S)
            publish(pub, ROUND)  # and new events flow as before
            expected = len(published)
            wait_until(
                lambda: len(_stored(central.database_url)) == expected,
                STORE_TIMEOUT_S,
                "every event stored once the disk has room",
            )
            health = central.health()
    finally:
        stop_all([central.child])

    assert health["ingest"]["dead_lettered"] == 0
    assert health["ingest"]["store_error"] is None
    stored = _stored(central.database_url)
    assert sorted(seq for seq, _ in stored) == list(range(1, len(published) + 1))
    assert sorted(event_id for _, event_id in stored) == sorted(published)
