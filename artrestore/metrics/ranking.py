"""Ranking metrics: ROC AUC (pure functions on tensors)."""

from __future__ import annotations

import torch


def roc_auc(positive: torch.Tensor, negative: torch.Tensor) -> float:
    """Area under the ROC curve: P(score of a positive > score of a negative), ties counted half.

    Computed exactly from ranks (Mann-Whitney U).

    Args:
        positive: (n,) scores of the positive class.
        negative: (m,) scores of the negative class.

    Returns:
        AUC in [0, 1].
    """
    if positive.numel() == 0 or negative.numel() == 0:
        raise ValueError("positive, negative: need at least one score of each class")
    scores = torch.cat([positive.flatten(), negative.flatten()]).double()
    order = torch.argsort(scores)
    sorted_scores = scores[order]
    ranks = torch.empty_like(scores)
    ranks[order] = torch.arange(1, len(scores) + 1, dtype=torch.float64)
    # average ranks over ties
    uniq, inverse, counts = torch.unique(sorted_scores, return_inverse=True, return_counts=True)
    first = torch.cumsum(counts, 0) - counts + 1  # (u,) rank of the first member of each tie group
    mean_rank = first + (counts - 1) / 2.0
    ranks[order] = mean_rank[inverse].double()
    n, m = positive.numel(), negative.numel()
    u = ranks[:n].sum() - n * (n + 1) / 2.0
    return float(u / (n * m))
