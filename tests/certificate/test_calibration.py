"""Conformal thresholds: the guarantee holds on exchangeable data, by painting, and the fallback is pooled."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.certificate.calibration import calibrate, conformal_threshold, exceedance
from artrestore.hub.style_certifier import painting_weighted_threshold


def test_threshold_is_the_conformal_order_statistic():
    scores = np.arange(1, 20, dtype=float)  # n = 19: rank ceil(20 * 0.95) = 19
    assert conformal_threshold(scores, 0.05) == 19.0
    assert conformal_threshold(scores[:10], 0.05) == float("inf")  # too few for alpha = 0.05
    assert conformal_threshold(scores, 0.5) == 10.0
    with pytest.raises(ValueError, match="alpha"):
        conformal_threshold(scores, 0.0)


@pytest.mark.parametrize("alpha", [0.05, 0.1, 0.2])
def test_guarantee_holds_on_exchangeable_scores(alpha):
    """P(new genuine score > threshold) <= alpha, and close to it (the bound is tight up to 1 / (n + 1))."""
    rng = np.random.default_rng(0)
    rates = []
    for _ in range(400):
        cal, test = rng.gamma(2.0, size=99), rng.gamma(2.0, size=200)
        rates.append((test > conformal_threshold(cal, alpha)).mean())
    assert alpha - 0.02 <= np.mean(rates) <= alpha + 0.005


def test_small_artists_fall_back_to_a_threshold_pooled_over_small_artists():
    rng = np.random.default_rng(1)
    big = {"a": 1.0, "b": 3.0}
    d, artists, paintings = [], [], []
    for a, loc in big.items():
        d += list(rng.normal(loc, 0.1, 60))
        artists += [a] * 60
        paintings += [f"{a}{i % 6}" for i in range(60)]
    for j in range(10):  # ten small artists with one painting each
        d += list(rng.normal(2.0, 0.1, 8))
        artists += [f"small{j}"] * 8
        paintings += [f"s{j}"] * 8
    d, artists, paintings = np.array(d), np.array(artists), np.array(paintings)
    thr = calibrate(d, artists, paintings, alpha=0.1, min_paintings=5)
    assert thr.kind["a"] == thr.kind["b"] == "artist" and thr.kind["small3"] == "pooled"
    assert thr.by_artist["a"] < 1.5 < thr.by_artist["b"]
    # own thresholds: one normalised threshold times each artist's scale
    assert thr.by_artist["b"] / thr.by_artist["a"] == pytest.approx(thr.scale["b"] / thr.scale["a"])
    small = np.char.startswith(artists, "small")
    # pooled over the artists that use it, by painting
    assert thr.pooled == painting_weighted_threshold(d[small], paintings[small], 0.1)


def test_exceedance_near_alpha_on_fresh_exchangeable_data():
    rng = np.random.default_rng(2)
    artists = np.repeat(["x", "y"], 400)
    paintings = np.repeat([f"p{i}" for i in range(80)], 10)
    shift = np.where(artists == "x", 0.0, 2.0)
    thr = calibrate(rng.gamma(2.0, size=800) + shift, artists, paintings, alpha=0.1)
    fresh = exceedance(rng.gamma(2.0, size=4000) + np.repeat([0.0, 2.0], 2000), np.repeat(["x", "y"], 2000), thr)
    assert abs(fresh["rate"] - 0.1) < 0.03 and fresh["n_artist"] == 4000 and fresh["n_pooled"] == 0


def test_guarantee_holds_by_painting_when_blocks_of_a_painting_are_correlated():
    """Each painting has its own offset (its blocks are correlated): the painting-weighted normalised threshold
    still bounds the share of a new painting's blocks that exceed it, for few paintings per artist."""
    rng = np.random.default_rng(3)

    def paintings_of(artist_scale: dict[str, float], n: int, tag: str):
        d, a, p = [], [], []
        for name, s in artist_scale.items():
            for i in range(n):
                offset = rng.normal(0, 0.25)
                blocks = int(rng.integers(3, 30))  # paintings of very different sizes
                d += list(s * np.exp(offset + rng.normal(0, 0.2, blocks)))
                a += [name] * blocks
                p += [f"{tag}{name}{i}"] * blocks
        return np.array(d), np.array(a), np.array(p)

    scales = {f"artist{j}": 0.3 + 0.1 * j for j in range(10)}
    thr = calibrate(*paintings_of(scales, 8, "cal"), alpha=0.1, min_paintings=5)
    assert all(thr.kind[a] == "artist" for a in scales)
    d, a, p = paintings_of(scales, 200, "new")
    over = d > np.array([thr.by_artist[x] for x in a])
    per_painting = [over[p == q].mean() for q in np.unique(p)]
    assert 0.05 <= np.mean(per_painting) <= 0.15
