"""Craquelure realism: synthetic crack networks against the real crack maps."""

from __future__ import annotations

import numpy as np
import pytest

from artrestore.damage import (
    DamageConfig,
    DamageSimulator,
    crack_statistics,
    read_crack_map,
    real_craquelure,
    synthetic_craquelure,
)

from ..conftest import synthetic_painting


def test_synthetic_cracks_form_a_network():
    m = synthetic_craquelure((256, 256), np.random.default_rng(0))
    stats = crack_statistics(m)
    assert 0.02 < stats["density"] < 0.25
    assert stats["islands_per_kpx"] > 0.2, "cracks must enclose paint islands"
    assert stats["junctions_per_kpx"] > 0.1, "a network has junctions, not just lines"
    assert 1.0 <= stats["mean_width"] <= 3.5


def test_crack_statistics_of_known_shapes():
    m = np.zeros((100, 100), bool)
    m[50, :] = True
    m[:, 50] = True
    s = crack_statistics(m)
    assert s["islands_per_kpx"] == pytest.approx(0.4)  # 4 islands in 10 kpx
    assert s["density"] == pytest.approx(199 / 1e4)
    assert s["junctions_per_kpx"] > 0


@pytest.mark.data
def test_synthetic_statistics_within_real_range(shared_data):
    """The synthetic generator's crack statistics fall inside the spread of the real crack maps."""
    files = sorted((shared_data / "craquelure" / "masks").glob("*/*.png"))[::20]
    real = [crack_statistics(read_crack_map(f)) for f in files]
    synth = [crack_statistics(synthetic_craquelure((256, 256), np.random.default_rng(s))) for s in range(20)]
    for key in ("density", "length_per_kpx", "mean_width", "junctions_per_kpx", "islands_per_kpx"):
        lo, hi = np.percentile([r[key] for r in real], [5, 95])
        median = np.median([s[key] for s in synth])
        assert lo <= median <= hi, f"{key}: synthetic median {median:.3f} outside real 5-95% [{lo:.3f}, {hi:.3f}]"


@pytest.mark.data
def test_real_crack_maps_are_dark_on_white(shared_data):
    """Cracks are the minority class of every real map, whatever the file's polarity."""
    files = sorted((shared_data / "craquelure" / "masks").glob("*/*.png"))[::50]
    shares = [read_crack_map(f).mean() for f in files]
    assert max(shares) <= 0.5 and np.median(shares) > 0.02


@pytest.mark.data
def test_real_crack_source(shared_data):
    masks_dir = shared_data / "craquelure" / "masks"
    m = real_craquelure((300, 520), np.random.default_rng(1), masks_dir)
    assert m.shape == (300, 520) and 0.005 < m.mean() < 0.5
    img = synthetic_painting(300, 520)
    s = DamageSimulator(DamageConfig("real", str(masks_dir))).simulate(img, "crack", 2)
    assert ((s.image != img).any(2) <= s.mask).all() and s.mask.any()
