"""ROC AUC against a brute-force pair count."""

from __future__ import annotations

import pytest
import torch

from artrestore.metrics.ranking import roc_auc, target_rank


def _brute(pos, neg):
    wins = sum(float(p > n) + 0.5 * float(p == n) for p in pos.tolist() for n in neg.tolist())
    return wins / (len(pos) * len(neg))


@pytest.mark.parametrize("seed", range(4))
def test_matches_pair_counting_with_ties(seed):
    g = torch.Generator().manual_seed(seed)
    pos = torch.randint(0, 6, (23,), generator=g).float()
    neg = torch.randint(0, 6, (17,), generator=g).float() - 1
    assert roc_auc(pos, neg) == pytest.approx(_brute(pos, neg))


def test_extremes_and_errors():
    assert roc_auc(torch.tensor([2.0, 3.0]), torch.tensor([0.0, 1.0])) == 1.0
    assert roc_auc(torch.tensor([0.0]), torch.tensor([1.0])) == 0.0
    with pytest.raises(ValueError, match="positive, negative"):
        roc_auc(torch.tensor([]), torch.tensor([1.0]))


def test_target_rank_counts_the_candidates_scored_strictly_higher():
    scores = torch.tensor([[0.9, 0.1, 0.5], [0.2, 0.2, 0.7], [0.3, 0.3, 0.3]])
    assert target_rank(scores, torch.tensor([0, 1, 2])).tolist() == [0, 1, 0]
    assert target_rank(scores, torch.tensor([1, 0, 0])).tolist() == [2, 1, 0]
    with pytest.raises(ValueError, match="scores, target"):
        target_rank(scores[0], torch.tensor([0]))
