"""Ranking metrics: ROC AUC and the rank of a target among candidates (pure functions on tensors)."""

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


def target_rank(scores: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Rank of each row's target among its candidates: how many candidates score strictly higher (0 = first).

    Args:
        scores: (n, k) scores, higher = more alike (e.g. cosine similarities to k artists).
        target: (n,) index of the right candidate of each row.

    Returns:
        (n,) long ranks in [0, k - 1].
    """
    if scores.ndim != 2 or target.shape != scores.shape[:1]:
        raise ValueError(
            f"scores, target: expected (n, k) and (n,), got {tuple(scores.shape)} and {tuple(target.shape)}"
        )
    own = scores.gather(1, target.long()[:, None])  # (n, 1)
    return (scores > own).sum(1)
