"""The camera stream stalls, disconnects and returns under a running ``linetrace edge run``.

The camera is a real HTTP Motion-JPEG stream served by the test (:mod:`.mjpeg_server`)
from the synthetic conveyor's frames; the edge agent is a real process on a real
Mosquitto, with a stand-in central that confirms what it receives. The test garbles
pictures (skipped and counted, the stream goes on), stalls the stream (the capture
watchdog notices, the camera alarm is raised and the station's status reads
``degraded``), takes the camera down (reopened with backoff, no crash) and brings it back
(alarm cleared, status ``online``, and items seen after the return reach the broker).
"""

from __future__ import annotations

import time
import urllib.request
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

import cv2
import pytest
import tomli_w
from prometheus_client.parser import text_string_to_metric_families

from linetrace.broker.contract.messages import StationStatus
from linetrace.broker.mosquitto.local import LocalBroker
from linetrace.ports import free_port
from linetrace.processes import Child, linetrace_argv
from linetrace.synth.conveyor import ConveyorSpec, render_frames
from tests.conditions import wait_until
from tests.edge.delivery.acking_sink import AckingSink
from tests.system.mjpeg_server import MjpegCamera

pytestmark = [pytest.mark.system, pytest.mark.slow]

SITE, LINE, STATION = "hcm1", "L1", "cam-1"
ICT = timezone(timedelta(hours=7))
FPS = 15.0
# The watchdog's timings, short so the test is quick: a stall is noticed after a second,
# reopening starts at 0.2 s and doubles to 1 s.
READ_TIMEOUT_S = 1.0
BACKOFF_S = 0.2
BACKOFF_MAX_S = 1.0
# Starting the agent (imports, capture and decoder processes) on a loaded box.
START_TIMEOUT_S = 45.0
FAULT_TIMEOUT_S = 20.0
CORRUPT = 5


@pytest.fixture(scope="module")
def pictures() -> list[bytes]:
    """Ten seconds of a clean conveyor as JPEG pictures, as an IP camera would send them."""
    spec = ConveyorSpec(
        items=20, fps=FPS, width=640, height=360, items_per_second=2.0, seed=7,
        degradation="none",
    )  # fmt: skip
    encoded = []
    for frame in render_frames(spec):
        ok, jpeg = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, 90])
        assert ok
        encoded.append(jpeg.tobytes())
    return encoded


def _edge_config(broker: LocalBroker, camera: MjpegCamera, folder: Path, metrics_port: int) -> Path:
    credentials = broker.station(f"{SITE}/{LINE}/{STATION}")
    path = folder / "edge.toml"
    document = {
        "station": {"site": SITE, "line": LINE, "station": STATION, "utc_offset": "+07:00"},
        "source": {"spec": camera.url},
        "capture": {
            "read_timeout_s": READ_TIMEOUT_S,
            "backoff_s": BACKOFF_S,
            "backoff_max_s": BACKOFF_MAX_S,
            "stall_s": 10.0,
        },
        "scanner": {"workers": 1},
        "mqtt": {
            "host": broker.host,
            "port": broker.port,
            "username": credentials.username,
            "password": credentials.password,
            "keepalive_s": 5,
        },
        "outbox": {"path": str(folder / "outbox.sqlite")},
        "status": {"interval_s": 1.0},
        "metrics": {"port": metrics_port},
    }
    path.write_text(tomli_w.dumps(document))
    return path


def _scraper(port: int, edge: Child) -> Callable[[], dict[str, float]]:
    def metrics() -> dict[str, float]:
        assert edge.running, f"the edge agent exited:\n{edge.tail(40)}"
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
            text = answer.read().decode()
        return {
            sample.name.removeprefix("linetrace_edge_"): sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
        }

    return metrics


def _latest(sink: AckingSink) -> StationStatus | None:
    return sink.statuses[-1] if sink.statuses else None


def test_the_watchdog_rides_out_a_stall_a_disconnect_and_garbage(
    mqtt_broker: LocalBroker, pictures: list[bytes], tmp_path: Path
) -> None:
    metrics_port = free_port()
    with (
        MjpegCamera(pictures, FPS, free_port()) as camera,
        AckingSink(mqtt_broker.host, mqtt_broker.port, mqtt_broker.service("central")) as sink,
    ):
        config = _edge_config(mqtt_broker, camera, tmp_path, metrics_port)
        argv = linetrace_argv("edge", "run", "--config", str(config))
        edge = Child("edge", argv, tmp_path / "edge.log")
        metrics = _scraper(metrics_port, edge)
        edge.start()
        try:
            # Streaming: items reach the broker, the station is online.
            wait_until(lambda: len(sink.events) >= 1, START_TIMEOUT_S, "no event from the stream")
            wait_until(lambda: getattr(_latest(sink), "state", None) == "online")

            # Garbage pictures: skipped and counted, and the stream goes on without a reopen.
            camera.corrupt(CORRUPT)
            wait_until(lambda: metrics()["corrupt_frames_total"] >= CORRUPT, FAULT_TIMEOUT_S)
            sent = camera.sent
            wait_until(lambda: camera.sent > sent + 2 * FPS)  # two more seconds of stream
            figures = metrics()
            assert figures["corrupt_frames_total"] == CORRUPT
            assert figures["camera_failures_total"] == 0, edge.tail(40)
            assert figures["camera_reconnects_total"] == 0
            assert figures["camera_alarm"] == 0

            # A stall: the connection stays open and nothing comes.
            camera.stall()
            wait_until(lambda: metrics()["camera_alarm"] == 1, FAULT_TIMEOUT_S, "stall unnoticed")
            wait_until(lambda: getattr(_latest(sink), "state", None) == "degraded", FAULT_TIMEOUT_S)
            degraded = _latest(sink)
            assert degraded is not None
            assert degraded.metrics["camera_alarm"] == 1

            # Down for a while: reopened again and again, with backoff, and no crash.
            failures = metrics()["camera_failures_total"]
            down_at = time.monotonic()
            camera.go_down()
            wait_until(lambda: metrics()["camera_failures_total"] >= failures + 3, FAULT_TIMEOUT_S)
            figures, elapsed = metrics(), time.monotonic() - down_at
            tries = figures["camera_failures_total"] - failures
            assert tries <= elapsed / BACKOFF_S + 1, "reopening without backoff"
            assert figures["camera_alarm"] == 1
            assert figures["camera_reconnects_total"] == 0

            # Back: frames flow, the alarm clears, items seen from now on reach the broker.
            back_at = datetime.now(ICT)
            camera.come_back()
            wait_until(lambda: metrics()["camera_alarm"] == 0, FAULT_TIMEOUT_S, "no recovery")
            assert metrics()["camera_reconnects_total"] >= 1
            wait_until(lambda: getattr(_latest(sink), "state", None) == "online", FAULT_TIMEOUT_S)
            wait_until(
                lambda: any(event.observed_at >= back_at for event in sink.events),
                FAULT_TIMEOUT_S,
                "no item scanned after the camera came back",
            )
            assert edge.running, edge.tail(40)
        finally:
            code = edge.stop()
    assert code == 0, edge.tail(40)
    seqs = sorted(event.seq for event in sink.events)
    assert sorted(set(seqs)) == list(range(1, max(seqs) + 1)), "a gap in the seqs"
