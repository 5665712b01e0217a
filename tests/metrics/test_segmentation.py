"""IoU, F1 and boundary F1."""

from __future__ import annotations

import pytest
import torch

from artrestore.metrics import boundary_f1, confusion_curve, f1, f1_curve, f1_from_counts, iou


def _square(y0: int, x0: int, size: int = 10, side: int = 32) -> torch.Tensor:
    m = torch.zeros(1, side, side, dtype=torch.bool)
    m[:, y0 : y0 + size, x0 : x0 + size] = True
    return m


def test_iou_and_f1_of_overlapping_squares():
    a, b = _square(0, 0), _square(0, 5)  # overlap 10x5 = 50, union 150
    assert float(iou(a, b)) == pytest.approx(50 / 150)
    assert float(f1(a, b)) == pytest.approx(2 * 50 / 200)
    assert float(iou(a, a)) == 1.0 and float(f1(a, ~a)) == 0.0


def test_empty_masks_agree():
    e = torch.zeros(2, 8, 8)
    assert torch.equal(iou(e, e), torch.ones(2)) and torch.equal(boundary_f1(e, e), torch.ones(2))


def test_boundary_f1_tolerates_small_shifts_only():
    a = _square(8, 8)
    assert float(boundary_f1(a, _square(9, 9), tolerance=2)) == 1.0
    assert float(boundary_f1(a, _square(14, 14), tolerance=2)) < 0.5


def test_shape_mismatch_raises():
    with pytest.raises(ValueError, match="shapes differ"):
        iou(torch.zeros(1, 4, 4), torch.zeros(1, 4, 5))


def test_f1_curve_matches_f1_of_each_thresholded_mask():
    g = torch.Generator().manual_seed(0)
    score = torch.rand(3, 16, 16, generator=g)
    target = torch.rand(3, 16, 16, generator=g) > 0.6
    thresholds = torch.tensor([0.1, 0.5, 0.9, 1.5])
    curve = f1_curve(score, target, thresholds)
    assert curve.shape == (3, 4)
    for j, t in enumerate(thresholds):
        assert torch.allclose(curve[:, j], f1(score >= t, target))
    empty = f1_curve(torch.zeros(1, 4, 4), torch.zeros(1, 4, 4, dtype=torch.bool), thresholds)
    assert torch.equal(empty, torch.ones(1, 4))  # nothing predicted, nothing there


def test_confusion_curve_counts_every_pixel_once():
    g = torch.Generator().manual_seed(1)
    score = torch.rand(2, 8, 8, generator=g)
    target = torch.rand(2, 8, 8, generator=g) > 0.5
    thresholds = torch.tensor([0.0, 0.3, 0.7, 1.1])
    counts = confusion_curve(score, target, thresholds)  # (2, 4, 3)
    assert counts.shape == (2, 4, 3)
    tn = 64 - counts.sum(-1)
    assert torch.equal(counts[..., 0] + counts[..., 2], target.flatten(1).sum(1, keepdim=True).double().expand(2, 4))
    assert (tn >= 0).all() and torch.equal(counts[:, 0, 2], torch.zeros(2, dtype=torch.float64))  # all predicted
    pred = score[1] >= 0.3
    assert counts[1, 1].tolist() == [(pred & target[1]).sum(), (pred & ~target[1]).sum(), (~pred & target[1]).sum()]
    assert torch.allclose(f1_from_counts(counts).float(), f1_curve(score, target, thresholds))


def test_f1_curve_rejects_mismatched_inputs():
    with pytest.raises(ValueError, match="score"):
        f1_curve(torch.rand(1, 4, 4), torch.zeros(1, 4, 5), torch.tensor([0.5]))
    with pytest.raises(ValueError, match="thresholds"):
        f1_curve(torch.rand(1, 4, 4), torch.zeros(1, 4, 4), torch.tensor([[0.5]]))
