"""``linetrace edge scan``: its output formats, exit codes, and a whole synthetic line."""

from __future__ import annotations

import argparse
import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from pathlib import Path

import cv2
import pytest

from linetrace.broker.contract.messages import MAX_SNAPSHOT_CHARS
from linetrace.edge.cli import parser as edge_cli
from linetrace.edge.line.gs1 import to_hri
from linetrace.synth.conveyor import ConveyorSpec, write_conveyor
from tests.edge.barcodes import BAD_CHECK_DIGIT_HRI, GOOD_HRI, GTIN, canvas, datamatrix
from tests.edge.scenes import covered, ean13, place

STATS_KEYS = {"frames", "seconds", "fps", "reads", "noreads", "rejected"}
# The synthetic generator's label kinds and the symbology the decoder reports for each.
SYMBOLOGY_OF_KIND = {
    "gs1-datamatrix": "DataMatrix",
    "gs1-qr-digital-link": "QRCode",
    "gs1-128-sscc": "Code128",
    "ean-13": "EAN13",
}


def edge(argv: Sequence[str]) -> int:
    """Run an ``edge`` verb as the ``linetrace`` command does: parse, then call the handler."""
    parser = argparse.ArgumentParser(prog="linetrace")
    edge_cli.register(parser.add_subparsers(dest="part", required=True))
    args = parser.parse_args(["edge", *argv])
    return int(args.handler(args))


@pytest.fixture
def labels(tmp_path: Path) -> Path:
    """A folder of two stills: a good GS1 DataMatrix and one with a wrong check digit."""
    folder = tmp_path / "stills"
    folder.mkdir()
    cv2.imwrite(str(folder / "1.png"), canvas([(datamatrix(GOOD_HRI, scale=3), 40, 60)]))
    cv2.imwrite(str(folder / "2.png"), canvas([(datamatrix(BAD_CHECK_DIGIT_HRI, scale=3), 40, 60)]))
    return folder


def test_json_lines_and_stats_line(labels: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = edge(["scan", str(labels), "--json", "--stats", "--utc-offset", "+07:00",
                 "--start", "2026-03-01T08:00:00+07:00"])  # fmt: skip
    out, err = capsys.readouterr()

    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert record["kind"] == "read"
    assert (record["symbology"], record["symbology_id"]) == ("DataMatrix", "]d2")
    assert record["text"] == f"01{GTIN}17271231" + "10L2611\x1d21000123"
    assert record["gs1"] == {"01": GTIN, "17": "271231", "10": "L2611", "21": "000123"}
    assert record["observed_at"] == "2026-03-01T08:00:00.000+07:00"
    assert datetime.fromisoformat(record["observed_at"]).utcoffset() == timedelta(hours=7)
    assert record["frames"] == 1
    assert record["checks"]["check_digit"] == {"passed": True, "detail": None}
    stats = json.loads(err.strip().splitlines()[-1])
    assert set(stats) >= STATS_KEYS
    assert (stats["frames"], stats["reads"], stats["rejected"], stats["noreads"]) == (2, 1, 1, 0)
    assert stats["fps"] > 0


def test_table_output_shows_the_human_readable_text(
    labels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert edge(["scan", str(labels / "1.png")]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert lines[0].split() == ["observed_at", "symbology", "frames", "text"]
    assert "DataMatrix" in lines[1]
    assert GOOD_HRI in lines[1]
    assert len(lines) == 2


def test_window_and_backend_options_reach_the_pipeline(
    labels: Path, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    # The same still twice, 1 s apart: one passage with a 2 s window, two with 0.5 s.
    folder = tmp_path / "twice"
    folder.mkdir()
    for name in ("a.png", "b.png", "c.png"):
        still = labels / "1.png" if name != "b.png" else labels / "2.png"
        (folder / name).write_bytes(still.read_bytes())

    edge(["scan", str(folder), "--json", "--window", "2"])
    assert len(capsys.readouterr().out.splitlines()) == 1
    edge(["scan", str(folder), "--json", "--window", "0.5"])
    assert len(capsys.readouterr().out.splitlines()) == 2


def test_unopenable_source_exits_2_with_a_message(capsys: pytest.CaptureFixture[str]) -> None:
    assert edge(["scan", "no/such/video.mp4"]) == 2
    assert "no such file or folder: no/such/video.mp4" in capsys.readouterr().err


def test_formats_the_backend_cannot_read_exit_2(
    labels: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert edge(["scan", str(labels), "--backend", "zbar", "--formats", "DataMatrix"]) == 2
    assert "zbar backend cannot read DataMatrix" in capsys.readouterr().err


@pytest.mark.parametrize(
    "argv",
    [
        ["scan"],
        ["scan", "x", "--utc-offset", "7"],
        ["scan", "x", "--window", "-1"],
        ["scan", "x", "--fps", "0"],
        ["scan", "x", "--backend", "opencv"],
        ["scan", "x", "--start", "yesterday"],
        ["scan", "x", "--workers", "-1"],
        ["scan", "x", "--workers", "two"],
    ],
)
def test_bad_arguments_exit_2(argv: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        edge(argv)

    assert exited.value.code == 2
    assert "error" in capsys.readouterr().err


def test_scan_finds_each_conveyor_item_exactly_once(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = ConveyorSpec(
        items=20, fps=30.0, width=640, height=360, items_per_second=2.0, seed=1,
        degradation="none",
    )  # fmt: skip
    video = tmp_path / "c.mp4"
    truth = write_conveyor(video, spec)
    start = datetime.fromisoformat("2026-03-01T08:00:00+07:00")

    code = edge(["scan", str(video), "--json", "--stats", "--start", start.isoformat()])
    out, err = capsys.readouterr()

    assert code == 0
    records = [json.loads(line) for line in out.splitlines()]
    assert all(record["kind"] == "read" for record in records)  # nothing is covered here
    unmatched = [item for item in truth.items if item.readable]
    for record in records:
        first_frame = round(
            (datetime.fromisoformat(record["observed_at"]) - start).total_seconds() * spec.fps
        )
        matches = [
            item
            for item in unmatched
            if item.text == to_hri(record["symbology_id"], record["text"])
            and item.gs1 == record["gs1"]
            and SYMBOLOGY_OF_KIND[item.symbology] == record["symbology"]
            and item.first_frame <= first_frame <= item.last_frame
        ]
        assert len(matches) == 1, f"no single truth item for {record}"
        unmatched.remove(matches[0])
    assert unmatched == [], f"never reported: {[item.text for item in unmatched]}"
    stats = json.loads(err.strip().splitlines()[-1])
    assert stats["frames"] == truth.frames
    assert stats["reads"] == len(records)
    assert stats["rejected"] == 0
    assert stats["dropped"] == 0
    assert stats["decode_ms_p50"] > 0


def test_a_covered_label_is_a_noread_record_with_its_snapshot_size(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "belt"
    folder.mkdir()
    label = covered(ean13(scale=3))
    for index in range(5):
        cv2.imwrite(str(folder / f"{index}.png"), place(label, (800, 400), 40 + 20 * index, 80))

    code = edge(["scan", str(folder), "--json", "--stats", "--fps", "10", "--workers", "1"])
    out, err = capsys.readouterr()

    assert code == 0
    (record,) = [json.loads(line) for line in out.splitlines()]
    assert (record["kind"], record["text"], record["frames"]) == ("noread", None, 5)
    assert 0 < record["snapshot_bytes"] <= MAX_SNAPSHOT_CHARS * 3 // 4
    stats = json.loads(err.strip().splitlines()[-1])
    assert (stats["noreads"], stats["reads"], stats["frames"]) == (1, 0, 5)


def test_the_table_says_no_read(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = tmp_path / "belt"
    folder.mkdir()
    for index in range(3):
        image = place(covered(ean13(scale=3)), (800, 400), 40 + 20 * index, 80)
        cv2.imwrite(str(folder / f"{index}.png"), image)

    assert edge(["scan", str(folder), "--fps", "10", "--workers", "0"]) == 0
    lines = capsys.readouterr().out.splitlines()

    assert len(lines) == 2
    assert lines[1].endswith("(no read)")
