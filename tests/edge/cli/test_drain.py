"""``linetrace edge drain`` and ``linetrace edge run --from-frame``, as real commands.

Drain: a stand-in central that confirms (exit 0, outbox empty), and none at all (exit 1
after ``--timeout``, the count left printed, every event kept). From-frame: a synthetic
conveyor video started part-way, against a real Mosquitto.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import tomli_w

from linetrace.broker.contract.messages import EventKind
from linetrace.broker.contract.topics import StationId
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.edge.config import ENV_PREFIX
from linetrace.edge.delivery.outbox import Outbox
from linetrace.edge.line.gs1 import to_hri
from linetrace.edge.line.passage import Passage
from linetrace.synth.conveyor import ConveyorSpec, write_conveyor
from tests.edge.delivery.acking_sink import AckingSink

STATION = StationId("hcm1", "L1", "pack-1")
# A command's whole life (interpreter start, connect, deliver) on a loaded two-core box.
COMMAND_TIMEOUT_S = 60.0


def write_config(
    broker: LocalBroker, tmp_path: Path, source: dict[str, Any] | None = None
) -> tuple[Path, dict[str, str]]:
    """The station's config file (no password in it) and the environment with the password."""
    credentials = broker.station(str(STATION))
    document = {
        "station": {"site": "hcm1", "line": "L1", "station": "pack-1", "utc_offset": "+07:00"},
        "source": source or {"spec": "0"},  # drain opens no camera
        "scanner": {"workers": 1},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "username": credentials.username,
            "keepalive_s": 5,
        },
        "outbox": {"path": str(tmp_path / "outbox.db")},
    }
    path = tmp_path / "edge.toml"
    path.write_text(tomli_w.dumps(document))
    return path, {**os.environ, f"{ENV_PREFIX}MQTT__PASSWORD": credentials.password}


def linetrace(env: dict[str, str], *argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "linetrace", *argv],
        env=env,
        capture_output=True,
        text=True,
        timeout=COMMAND_TIMEOUT_S,
        check=False,
    )


def store(outbox_path: Path, count: int, station: StationId = STATION) -> list[str]:
    seen = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    with Outbox(outbox_path, station) as outbox:
        return [
            str(
                outbox.append(
                    Passage(
                        kind=EventKind.READ,
                        first_seen=seen + timedelta(seconds=n),
                        last_seen=seen + timedelta(seconds=n),
                        frames=2,
                        text=f"item-{n}",
                    )
                ).event_id
            )
            for n in range(count)
        ]


def depth(outbox_path: Path, station: StationId = STATION) -> int:
    with Outbox(outbox_path, station) as outbox:
        return outbox.depth()


def test_drain_exits_0_once_central_covers_the_outbox(
    mqtt_broker: LocalBroker, sink: AckingSink, tmp_path: Path
) -> None:
    config, env = write_config(mqtt_broker, tmp_path)
    stored = store(tmp_path / "outbox.db", 7)
    done = linetrace(env, "edge", "drain", "--config", str(config), "--timeout", "30")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "sending 7 events" in done.stdout
    assert "drained: central confirmed every event (watermark 7)" in done.stdout
    assert sink.event_ids() >= set(stored)
    assert depth(tmp_path / "outbox.db") == 0
    # Nothing left: a second drain has nothing to do.
    again = linetrace(env, "edge", "drain", "--config", str(config))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "is empty: nothing to send" in again.stdout


def test_drain_without_central_times_out_with_the_count_left(
    mqtt_broker: LocalBroker, tmp_path: Path
) -> None:
    config, env = write_config(mqtt_broker, tmp_path)
    store(tmp_path / "outbox.db", 4)
    started = time.monotonic()
    done = linetrace(env, "edge", "drain", "--config", str(config), "--timeout", "1.5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert time.monotonic() - started >= 1.5
    assert "timed out after 1.5 s: 4 events left in" in done.stdout
    assert "is central running?" in done.stdout  # the broker had no subscriber for them
    assert depth(tmp_path / "outbox.db") == 4  # kept for the agent or the next drain


def test_drain_refuses_a_bad_config(tmp_path: Path) -> None:
    (tmp_path / "edge.toml").write_text('[station]\nsite = "hcm1"\n')
    done = linetrace(dict(os.environ), "edge", "drain", "--config", str(tmp_path / "edge.toml"))
    assert done.returncode == 2, done.stdout + done.stderr
    assert "config:" in done.stdout


def test_run_from_frame_starts_the_video_there(
    mqtt_broker: LocalBroker, sink: AckingSink, tmp_path: Path
) -> None:
    video = tmp_path / "conveyor.mp4"
    spec = ConveyorSpec(
        items=6,
        fps=30.0,
        width=640,
        height=360,
        items_per_second=2.0,
        seed=3,
        degradation="none",
    )
    truth = write_conveyor(video, spec)
    readable = [item for item in truth.items if item.readable]
    start_frame = readable[3].first_frame
    before = {item.text for item in readable if item.last_frame < start_frame}
    after = {item.text for item in readable if item.first_frame >= start_frame}
    assert before, "the offset splits the video"
    assert after
    config, env = write_config(mqtt_broker, tmp_path, source={"spec": str(video)})
    launched = datetime.now(UTC)
    done = linetrace(env, "edge", "run", "--config", str(config), "--from-frame", str(start_frame))
    assert done.returncode == 0, done.stderr
    events = sink.wait_for_events(len(after))
    texts = {to_hri(event.symbology_id, event.text or "") for event in events}
    assert after <= texts
    assert not before & texts  # frames before the offset were never scanned
    # The frames keep the times they have in the file: nothing seen before the offset.
    offset = timedelta(seconds=start_frame / spec.fps)
    first_seen = min(event.observed_at for event in events)
    assert first_seen >= launched + offset - timedelta(milliseconds=50)
