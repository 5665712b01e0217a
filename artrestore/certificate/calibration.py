"""Conformal thresholds for the style certificate (pure functions on arrays).

For an artist with held-out genuine patches whose centroid distances are ``s_1 .. s_n``, the threshold is the
``ceil((n + 1)(1 - alpha))``-th smallest distance. If a new genuine patch is exchangeable with the calibration
patches, it exceeds that threshold with probability at most ``alpha``. Patches of one painting are correlated:
what is exchangeable is paintings, so :func:`calibrate` weighs every painting the same
(:func:`~artrestore.hub.style_certifier.painting_weighted_threshold`), and checks use disjoint paintings
(:func:`exceedance` on paintings never calibrated on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..hub.style_certifier import painting_weighted_threshold


def conformal_threshold(scores: np.ndarray, alpha: float) -> float:
    """The split-conformal ``1 - alpha`` threshold of calibration ``scores`` (inf when there are too few).

    Args:
        scores: (n,) nonconformity scores (here: distances to the artist centroid) of genuine held-out patches.
        alpha: miscoverage level in (0, 1).
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha: expected a number in (0, 1), got {alpha}")
    n = len(scores)
    rank = math.ceil((n + 1) * (1 - alpha))
    if n == 0 or rank > n:
        return float("inf")
    return float(np.sort(np.asarray(scores, np.float64))[rank - 1])


@dataclass
class Thresholds:
    """Per-artist thresholds, their kind (``"artist"`` / ``"pooled"``), the pooled threshold, and the normalised
    threshold and per-artist scales the artists' own thresholds are made of."""

    by_artist: dict[str, float]
    kind: dict[str, str]
    pooled: float
    normalised: float = 0.0
    scale: dict[str, float] = field(default_factory=dict)


def calibrate(
    distances: np.ndarray,
    artists: np.ndarray,
    paintings: np.ndarray,
    alpha: float,
    min_paintings: int = 5,
) -> Thresholds:
    """Thresholds for every artist in ``artists``, calibrated by painting (paintings, not blocks, are exchangeable).

    An artist with ``min_paintings`` calibration paintings gets its own threshold: its scale (the median distance
    of its blocks) times one normalised threshold, the painting-weighted conformal threshold of every such block's
    distance divided by its artist's scale. The normalisation is what lets a handful of paintings per artist give a
    threshold: the conformal step runs over all the calibration paintings at once. The other artists share a
    painting-weighted conformal threshold of their raw distances (or, when they are too few, of all distances).

    Args:
        distances: (n,) distance of each calibration block to its own artist's centroid, from heads and centroids
            that never saw its painting.
        artists: (n,) artist of each block.
        paintings: (n,) painting id of each block.
        alpha: miscoverage level.
        min_paintings: fewest calibration paintings for an artist-specific threshold.
    """
    distances, artists, paintings = np.asarray(distances, np.float64), np.asarray(artists), np.asarray(paintings)
    own = [str(a) for a in np.unique(artists) if len(np.unique(paintings[artists == a])) >= min_paintings]
    scale = {a: float(np.median(distances[artists == a])) for a in own}
    by_artist, kind = {}, {}
    normalised = 0.0
    if own:
        sel = np.isin(artists, own)
        ratio = distances[sel] / np.array([scale[str(a)] for a in artists[sel]])
        normalised = painting_weighted_threshold(ratio, paintings[sel], alpha)
        if math.isfinite(normalised):
            for a in own:
                by_artist[a], kind[a] = normalised * scale[a], "artist"
        else:
            normalised = 0.0
    fallback = ~np.isin(artists, list(by_artist))
    pooled = painting_weighted_threshold(distances[fallback], paintings[fallback], alpha) if fallback.any() else 0.0
    if not math.isfinite(pooled) or not fallback.any():
        pooled = painting_weighted_threshold(distances, paintings, alpha)
    for a in np.unique(artists[fallback]):
        by_artist[str(a)], kind[str(a)] = pooled, "pooled"
    return Thresholds(by_artist, kind, pooled, normalised, {a: scale[a] for a in kind if kind[a] == "artist"})


def exceedance(distances: np.ndarray, artists: np.ndarray, thresholds: Thresholds) -> dict[str, float]:
    """Observed rate at which genuine patches (not used for calibration) exceed their artist's threshold.

    Returns:
        ``rate`` over all patches, ``rate_artist`` / ``rate_pooled`` by kind of threshold, and the counts.
    """
    thr = np.array([thresholds.by_artist.get(str(a), thresholds.pooled) for a in artists])
    kinds = np.array([thresholds.kind.get(str(a), "pooled") for a in artists])
    over = distances > thr
    out = {"rate": float(over.mean()), "n": int(len(over))}
    for k in ("artist", "pooled"):
        sel = kinds == k
        out[f"rate_{k}"] = float(over[sel].mean()) if sel.any() else float("nan")
        out[f"n_{k}"] = int(sel.sum())
    return out
