"""A label must read back exactly as its truth says, and an occluded one must not read."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt
import pytest
import zxingcpp

from linetrace.synth.codes import CodeFactory, Symbology
from linetrace.synth.degrade import occlude
from linetrace.synth.labels import render_label

# ISO/IEC 15424 identifiers and content types a scanner reports for each label kind.
EXPECTED = {
    Symbology.GS1_DATAMATRIX: ("]d2", zxingcpp.ContentType.GS1),
    Symbology.GS1_QR_DIGITAL_LINK: ("]Q1", zxingcpp.ContentType.Text),
    Symbology.GS1_128_SSCC: ("]C1", zxingcpp.ContentType.GS1),
    Symbology.EAN_13: ("]E0", zxingcpp.ContentType.Text),
}


@pytest.mark.parametrize("module_px", [2, 3, 4])
@pytest.mark.parametrize("symbology", list(Symbology))
def test_label_reads_back_exactly(symbology: Symbology, module_px: int) -> None:
    data = CodeFactory(module_px).label_data(symbology)
    label = render_label(data, module_px)
    results = zxingcpp.read_barcodes(label.image)
    assert [r.text for r in results] == [data.text]
    identifier, content = EXPECTED[symbology]
    assert results[0].symbology_identifier == identifier
    assert results[0].content_type == content


@pytest.mark.parametrize("symbology", list(Symbology))
def test_symbol_box_holds_the_whole_symbol(symbology: Symbology) -> None:
    label = render_label(CodeFactory(1).label_data(symbology), 3)
    x0, y0, x1, y1 = label.symbol_box
    inside = label.image[y0:y1, x0:x1]
    outside = label.image.copy()
    outside[y0:y1, x0:x1] = outside.max()
    assert zxingcpp.read_barcodes(inside)
    assert not zxingcpp.read_barcodes(outside)


def _posed(image: npt.NDArray[np.uint8], angle: float) -> npt.NDArray[np.uint8]:
    """``image`` turned by ``angle`` on a white canvas big enough to crop nothing."""
    height, width = image.shape
    side = int(np.hypot(height, width)) + 8
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), angle, 1.0)
    turn[:, 2] += (side / 2 - width / 2, side / 2 - height / 2)
    return np.asarray(cv2.warpAffine(image, turn, (side, side), borderValue=255), np.uint8)


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize("symbology", list(Symbology))
def test_occluded_label_never_reads_in_any_pose(symbology: Symbology, seed: int) -> None:
    data = CodeFactory(seed).label_data(symbology)
    clean = render_label(data, 3)
    covered = occlude(clean, np.random.default_rng(seed))
    for angle in (0, 7, 45, 90, 180):
        if not (clean.linear and angle == 45):  # a plain read skips diagonal bars anyway
            assert zxingcpp.read_barcodes(_posed(clean.image, angle)), angle
        posed = _posed(covered.image, angle)
        assert not zxingcpp.read_barcodes(posed), angle
        assert not zxingcpp.read_barcodes(posed, try_downscale=False), angle


def test_module_size_must_be_positive() -> None:
    with pytest.raises(ValueError, match="module_px"):
        render_label(CodeFactory(0).label_data(Symbology.EAN_13), 0)
