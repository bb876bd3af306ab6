"""``linetrace synth``: the verbs write what they say and refuse bad options plainly."""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import cv2
import pytest
import zxingcpp

from linetrace.synth import cli
from linetrace.synth.conveyor import ConveyorSpec, Truth, plan, truth_path


def run(argv: Sequence[str]) -> int:
    parser = argparse.ArgumentParser(prog="linetrace")
    cli.register(parser.add_subparsers(dest="part", required=True))
    args = parser.parse_args(["synth", *argv])
    return int(args.handler(args))


SMALL = ["--width", "960", "--height", "540", "--items-per-second", "6"]


def test_conveyor_writes_video_and_truth_and_says_so(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    out = tmp_path / "line.mp4"
    argv = [
        "conveyor", str(out), "--items", "3", "--fps", "25", "--seed", "9",
        "--mix", "gs1-datamatrix=2,ean-13=1", "--degradation", "medium", *SMALL,
    ]  # fmt: skip
    assert run(argv) == 0
    truth = Truth.load(truth_path(out))
    expected = ConveyorSpec(
        items=3, fps=25, seed=9, width=960, height=540, items_per_second=6,
        mix={"gs1-datamatrix": 2.0, "ean-13": 1.0}, degradation="medium",
    )  # fmt: skip
    assert truth == plan(expected)
    readable = sum(item.readable for item in truth.items)
    seconds = truth.frames / 25
    assert capsys.readouterr().out == (
        f"3 items, {readable} readable, {truth.frames} frames, {seconds:.1f} s at 25 fps -> {out}\n"
    )
    assert out.stat().st_size > 0


def test_conveyor_without_suffix_writes_a_frame_folder(tmp_path: Path) -> None:
    out = tmp_path / "frames"
    assert run(["conveyor", str(out), "--items", "1", "--image-format", ".jpg", *SMALL]) == 0
    truth = Truth.load(truth_path(out))
    assert len(list(out.glob("*.jpg"))) == truth.frames


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mix", "pdf417=1"], "unknown symbologies in mix: pdf417"),
        (["--items", "0"], "items must be at least 1"),
        (["--out-suffix"], "give a video"),
    ],
)
def test_conveyor_refuses_bad_options_with_the_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], argv: list[str], message: str
) -> None:
    out = tmp_path / ("line.mkv" if argv == ["--out-suffix"] else "line.mp4")
    options = [] if argv == ["--out-suffix"] else argv
    assert run(["conveyor", str(out), *options]) == 2
    assert message in capsys.readouterr().err
    assert not out.exists()
    assert not truth_path(out).exists()


def test_malformed_mix_is_an_argument_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        run(["conveyor", "x.mp4", "--mix", "ean-13"])
    assert "expected NAME=WEIGHT" in capsys.readouterr().err
    with pytest.raises(argparse.ArgumentTypeError, match="not a number"):
        cli.parse_mix("ean-13=lots")


def test_label_writes_a_readable_label(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "label.png"
    assert run(["label", str(out), "--symbology", "gs1-128-sscc", "--seed", "4"]) == 0
    printed = capsys.readouterr().out.split()
    assert printed[0] == "gs1-128-sscc"
    assert printed[-1] == str(out)
    image = cv2.imread(str(out), cv2.IMREAD_GRAYSCALE)
    assert [r.text for r in zxingcpp.read_barcodes(image)] == [printed[1]]


def test_the_verbs_load_without_the_drawing_libraries() -> None:
    """``linetrace`` must start on a server that has no OpenCV, zxing-cpp or biip."""
    code = (
        "import sys, linetrace.synth.cli; "
        "print(sorted({'cv2', 'zxingcpp', 'biip', 'numpy'} & set(sys.modules)))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
