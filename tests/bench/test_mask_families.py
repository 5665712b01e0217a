"""Held-out mask families: deterministic, of the intended size and shape, and never used by training."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from artrestore.bench.mask_families import MASK_FAMILIES, family_mask, family_sample
from artrestore.damage import KINDS


@pytest.mark.parametrize("family", MASK_FAMILIES)
def test_masks_are_deterministic_and_cover_a_plausible_share(family):
    masks = [family_mask(family, (256, 320), seed) for seed in range(12)]
    assert np.array_equal(masks[3], family_mask(family, (256, 320), 3))
    assert not np.array_equal(masks[0], masks[1])
    shares = np.array([m.mean() for m in masks])
    assert 0.02 < shares.mean() < 0.25 and shares.max() < 0.5


def test_each_family_has_its_own_geometry():
    lines = family_mask("lines", (512, 512), 0)
    ys, xs = np.nonzero(lines)
    assert xs.max() - xs.min() > 256 or ys.max() - ys.min() > 256  # border-to-border lines
    polygon = family_mask("polygon", (512, 512), 0)
    from scipy import ndimage

    labels, n = ndimage.label(polygon)
    assert 1 <= n <= 3 and min(ndimage.sum(polygon, labels, range(1, n + 1))) > 200  # compact filled shapes
    both = family_mask("polygon_lines", (512, 512), 0)
    assert both.sum() > polygon.sum() * 0.5 and (both & ~polygon).any()


def test_sample_paints_the_holes_white_and_changes_nothing_else():
    rng = np.random.default_rng(0)
    clean = rng.integers(0, 200, (128, 128, 3), dtype=np.uint8)
    sample = family_sample(clean, "strokes", 7)
    assert sample.mask.any() and (sample.image[sample.mask] == 255).all()
    assert np.array_equal(sample.image[~sample.mask], clean[~sample.mask])
    assert not sample.fade.any() and sample.kind == "strokes"


def test_families_are_not_simulator_kinds_and_training_never_imports_them():
    assert not set(MASK_FAMILIES) & set(KINDS)
    package = Path(__file__).resolve().parents[2] / "artrestore"
    for path in [
        *(package / "training").glob("*.py"),
        *(package / "damage").glob("*.py"),
        *(package / "data").glob("*.py"),
    ]:
        assert "mask_families" not in path.read_text(), path
    with pytest.raises(ValueError, match="mask family"):
        family_mask("circles", (64, 64), 0)
