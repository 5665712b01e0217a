"""Segmentation quality of detected damage masks: IoU, F1 and boundary F1."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def _as_bool(x: torch.Tensor, name: str) -> torch.Tensor:
    if x.ndim == 4:
        x = x[:, 0]
    if x.ndim != 3:
        raise ValueError(f"{name}: expected (b, [1,] h, w), got {tuple(x.shape)}")
    return x > 0.5 if x.dtype.is_floating_point else x.bool()


def _counts(pred: torch.Tensor, target: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    p, t = _as_bool(pred, "pred"), _as_bool(target, "target")
    if p.shape != t.shape:
        raise ValueError(f"pred, target: shapes differ: {tuple(p.shape)} vs {tuple(t.shape)}")
    tp = (p & t).sum((1, 2)).double()
    fp = (p & ~t).sum((1, 2)).double()
    fn = (~p & t).sum((1, 2)).double()
    return tp, fp, fn


def iou(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Intersection over union per image ((b, [1,] h, w) masks) -> (b,); 1 when both are empty."""
    tp, fp, fn = _counts(pred, target)
    denom = tp + fp + fn
    return torch.where(denom > 0, tp / denom.clamp_min(1), torch.ones_like(tp)).float()


def f1(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Pixel F1 (Dice) per image -> (b,); 1 when both are empty."""
    return f1_from_counts(torch.stack(_counts(pred, target), dim=-1)).float()


def confusion_curve(score: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Pixel counts of true positives, false positives and false negatives per image for every threshold on a score
    map (``score >= threshold`` is predicted).

    Args:
        score: (b, [1,] h, w) float scores (e.g. damage probabilities).
        target: (b, [1,] h, w) true mask.
        thresholds: (n,) thresholds.

    Returns:
        (b, n, 3) float64 counts: tp, fp, fn.
    """
    if score.ndim == 4:
        score = score[:, 0]
    t = _as_bool(target, "target")
    if score.shape != t.shape or not score.dtype.is_floating_point:
        raise ValueError(f"score: expected a float map shaped like target {tuple(t.shape)}, got {tuple(score.shape)}")
    if thresholds.ndim != 1:
        raise ValueError(f"thresholds: expected a 1-d tensor, got {tuple(thresholds.shape)}")
    s = score.flatten(1)[:, :, None]  # (b, h*w, 1)
    th = thresholds.to(score)[None]  # (1, n)
    rows = []
    for i in range(s.shape[0]):  # one image at a time keeps memory at h*w*n booleans
        pred = s[i] >= th  # (h*w, n)
        pos = t[i].flatten()[:, None]  # (h*w, 1)
        tp = (pred & pos).sum(0).double()
        fp = (pred & ~pos).sum(0).double()
        fn = (~pred & pos).sum(0).double()
        rows.append(torch.stack([tp, fp, fn], dim=-1))  # (n, 3)
    return torch.stack(rows)  # (b, n, 3)


def f1_from_counts(counts: torch.Tensor) -> torch.Tensor:
    """F1 from (..., 3) tp/fp/fn counts; 1 where prediction and target are both empty."""
    tp, fp, fn = counts.unbind(-1)
    denom = 2 * tp + fp + fn
    return torch.where(denom > 0, 2 * tp / denom.clamp_min(1), torch.ones_like(tp))


def f1_curve(score: torch.Tensor, target: torch.Tensor, thresholds: torch.Tensor) -> torch.Tensor:
    """Pixel F1 per image for every decision threshold on a score map (``score >= threshold`` is predicted).

    Args:
        score: (b, [1,] h, w) float scores (e.g. damage probabilities).
        target: (b, [1,] h, w) true mask.
        thresholds: (n,) thresholds.

    Returns:
        (b, n) F1; 1 where prediction and target are both empty.
    """
    return f1_from_counts(confusion_curve(score, target, thresholds)).float()


def _boundary(mask: torch.Tensor) -> torch.Tensor:
    m = mask[:, None].float()
    eroded = -F.max_pool2d(-m, 3, stride=1, padding=1)
    return (m - eroded)[:, 0] > 0  # (b, h, w)


def boundary_f1(pred: torch.Tensor, target: torch.Tensor, tolerance: int = 2) -> torch.Tensor:
    """Boundary F1 (Csurka et al. 2013): boundary pixels matched within ``tolerance`` px.

    Args:
        pred: (b, [1,] h, w) predicted mask.
        target: (b, [1,] h, w) true mask.
        tolerance: matching distance in pixels (Chebyshev).

    Returns:
        (b,) boundary F1; 1 when both masks are empty.
    """
    p, t = _as_bool(pred, "pred"), _as_bool(target, "target")
    bp, bt = _boundary(p), _boundary(t)
    k = 2 * tolerance + 1
    near_t = F.max_pool2d(bt[:, None].float(), k, stride=1, padding=tolerance)[:, 0] > 0
    near_p = F.max_pool2d(bp[:, None].float(), k, stride=1, padding=tolerance)[:, 0] > 0
    n_p, n_t = bp.sum((1, 2)).double(), bt.sum((1, 2)).double()
    precision = (bp & near_t).sum((1, 2)).double() / n_p.clamp_min(1)
    recall = (bt & near_p).sum((1, 2)).double() / n_t.clamp_min(1)
    score = 2 * precision * recall / (precision + recall).clamp_min(1e-12)
    both_empty = (n_p == 0) & (n_t == 0)
    return torch.where(both_empty, torch.ones_like(score), score).float()
