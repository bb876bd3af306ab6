"""``linetrace edge scan`` on photographs: one picture of a label is enough, in every symbology,
and a folder of pictures of different sizes is read picture by picture at each one's size."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from tests.edge.cli.test_scan import edge
from tests.edge.photos import DATAMATRIX, EAN8, EAN13, EVERY, GS1_128, QR, UPCA, Code, photo


def expected(record: dict[str, object], code: Code) -> bool:
    if code.gtin is not None:
        return record["gs1"] == {"01": code.gtin}
    return record["text"] == code.text


def records(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


@pytest.mark.parametrize("code", EVERY, ids=[code.name for code in EVERY])
def test_one_photo_of_a_label_is_read(
    code: Code, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    picture = tmp_path / f"{code.name}.jpg"
    cv2.imwrite(str(picture), photo(code, seed=7))

    assert edge(["scan", str(picture), "--json", "--workers", "0"]) == 0

    (record,) = records(capsys.readouterr().out)
    assert record["kind"] == "read"
    assert record["frames"] == 1
    assert expected(record, code), record


# Name order, sizes (width, height) and where each label lies: a first picture smaller
# than the rest, a large one whose 3 px bars would not survive being shrunk to the first
# one's size, a portrait one and a small one.
FOLDER = (
    ("1.jpg", DATAMATRIX, (640, 480), (0.3, 0.4)),
    ("2.jpg", EAN13, (2592, 1944), (0.6, 0.5)),
    ("3.jpg", UPCA, (1200, 1600), (0.5, 0.7)),
    ("4.png", GS1_128, (1600, 1200), (0.45, 0.3)),
    ("5.jpg", EAN8, (480, 320), (0.5, 0.5)),
    ("6.jpg", QR, (800, 600), (0.7, 0.6)),
)


def test_a_folder_of_photos_of_different_sizes_reads_each_at_its_size(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "photos"
    folder.mkdir()
    for n, (name, code, size, at) in enumerate(FOLDER):
        cv2.imwrite(str(folder / name), photo(code, size, seed=n, at=at))

    assert edge(["scan", str(folder), "--json"]) == 0

    out, err = capfd.readouterr()  # the capture process logs to the inherited stderr
    found = records(out)
    assert [r["kind"] for r in found] == ["read"] * len(FOLDER)
    for record, (name, code, _, _) in zip(found, FOLDER, strict=True):
        assert expected(record, code), (name, record)
    assert "shrunk" not in err
