"""Split conformal thresholds for the style certificate (pure functions on arrays).

For an artist with held-out genuine patches whose centroid distances are ``s_1 .. s_n``, the threshold is the
``ceil((n + 1)(1 - alpha))``-th smallest distance. If a new genuine patch is exchangeable with the calibration
patches, it exceeds that threshold with probability at most ``alpha``. Patches of one painting are correlated, so
calibration and checks use disjoint paintings (:func:`exceedance` on paintings never calibrated on).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np


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
    """Per-artist thresholds, their kind (``"artist"`` / ``"pooled"``) and the pooled threshold."""

    by_artist: dict[str, float]
    kind: dict[str, str]
    pooled: float


def calibrate(
    distances: np.ndarray,
    artists: np.ndarray,
    paintings: np.ndarray,
    alpha: float,
    min_paintings: int = 5,
) -> Thresholds:
    """Thresholds for every artist in ``artists``: its own when it has ``min_paintings`` calibration paintings
    (and enough patches for a finite threshold), else the pooled threshold.

    The pooled threshold is calibrated on the artists that fall back to it (they resemble the artists that will use
    it: few works), or on everything when they are too few for a finite threshold.

    Args:
        distances: (n,) distance of each calibration patch to its own artist's centroid.
        artists: (n,) artist of each patch.
        paintings: (n,) painting id of each patch.
        alpha: miscoverage level.
        min_paintings: fewest calibration paintings for an artist-specific threshold.
    """
    by_artist, kind = {}, {}
    for a in np.unique(artists):
        sel = artists == a
        thr = conformal_threshold(distances[sel], alpha)
        if len(np.unique(paintings[sel])) >= min_paintings and math.isfinite(thr):
            by_artist[str(a)], kind[str(a)] = thr, "artist"
    fallback = ~np.isin(artists, list(by_artist))
    pooled = conformal_threshold(distances[fallback], alpha)
    if not math.isfinite(pooled):
        pooled = conformal_threshold(distances, alpha)
    for a in np.unique(artists[fallback]):
        by_artist[str(a)], kind[str(a)] = pooled, "pooled"
    return Thresholds(by_artist, kind, pooled)


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
